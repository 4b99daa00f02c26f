//! `tenantgate ingest --tenant ID PATH…`: stores text and Markdown files as the tenant's
//! documents, through the same code as `POST /documents` (`services::documents::ingest`) and
//! the tenant's own retriever (so Pinecone tenants get their files embedded and upserted).
//!
//! Folders are walked recursively for `.txt`, `.md` and `.markdown` files. A file's document
//! id is its path as walked (`docs/guide.md`), so ingesting the same tree again replaces the
//! documents instead of adding copies; its title is the first Markdown heading, else the file
//! name; its source is the path.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::services::documents::{self, NewDocument};

const EXTENSIONS: [&str; 3] = ["txt", "md", "markdown"];

#[derive(clap::Args)]
pub struct IngestArgs {
    /// The tenant the documents belong to.
    #[arg(long)]
    tenant: String,
    /// Files and folders (folders are searched recursively for .txt and .md files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn is_text_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The files to ingest, in a stable order; an error names a path that is missing or unusable.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = Vec::new();
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry = entry.map_err(|e| format!("cannot walk {}: {e}", path.display()))?;
                if entry.file_type().is_file() && is_text_file(entry.path()) {
                    found.push(entry.into_path());
                }
            }
            files.extend(found);
        } else if is_text_file(path) {
            files.push(path.clone());
        } else {
            return Err(format!("{} is not a .txt or .md file", path.display()));
        }
    }
    files.dedup();
    Ok(files)
}

/// `./docs\guide.md` → `docs/guide.md`: the same id on every platform and every run.
fn document_id(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    text.trim_start_matches("./").to_owned()
}

fn title_of(path: &Path, text: &str) -> Option<String> {
    let heading = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("# "))
        .map(|l| l.trim_start_matches("# ").trim().to_owned())
        .filter(|t| !t.is_empty());
    heading.or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
}

/// Reads a file into the document `POST /documents` would receive.
pub fn read_document(path: &Path) -> Result<NewDocument, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let id = document_id(path);
    Ok(NewDocument {
        title: title_of(path, &text),
        source: Some(id.clone()),
        id: Some(id),
        text,
        metadata: None,
    })
}

pub async fn run(args: IngestArgs) -> Result<(), String> {
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        return Err("no .txt or .md files found in the given paths".into());
    }
    let config = super::load_config()?;
    let state = crate::state::AppState::new(config)?;
    let tenant = state
        .tenants
        .get(&args.tenant)
        .await
        .map_err(|e| format!("tenant {}: {}", args.tenant, super::error_text(e)))?;

    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut stored, mut chunks, mut failed) = (0usize, 0usize, Vec::new());
    for path in &files {
        bar.set_message(path.display().to_string());
        let outcome = match read_document(path) {
            Ok(doc) => documents::ingest(tenant.retriever.as_ref(), vec![doc])
                .await
                .map_err(|e| format!("{}: {}", path.display(), super::error_text(e))),
            Err(message) => Err(message),
        };
        match outcome {
            Ok(outcome) => {
                stored += 1;
                chunks += outcome.chunks;
            }
            Err(message) => {
                bar.println(format!("skipped {message}"));
                failed.push(message);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "ingest: stored {stored} document(s), {chunks} chunk(s) for tenant {}",
        args.tenant
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} file(s) could not be ingested", failed.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_titles() {
        assert_eq!(document_id(Path::new("./docs/guide.md")), "docs/guide.md");
        assert_eq!(
            title_of(Path::new("a/notes.md"), "intro\n# Getting started\n"),
            Some("Getting started".into())
        );
        assert_eq!(
            title_of(Path::new("a/notes.txt"), "no heading"),
            Some("notes".into())
        );
    }

    #[test]
    fn folders_are_walked_for_text_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
        for name in ["a.md", "sub/b.txt", "sub/deeper/c.MD", "sub/image.png"] {
            std::fs::write(root.join(name), "text").expect("write");
        }
        let files = collect_files(&[root.to_path_buf()]).expect("collect");
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(root)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, vec!["a.md", "sub/b.txt", "sub/deeper/c.MD"]);
        assert!(collect_files(&[root.join("sub/image.png")]).is_err());
        assert!(collect_files(&[root.join("missing")]).is_err());
    }
}
