//! `tenantgate ingest --tenant ID PATH…`: stores text, Markdown, HTML and PDF files as the tenant's
//! documents, through the same code as `POST /documents` (`services::documents::ingest`) and
//! the tenant's own retriever (so Pinecone tenants get their files embedded and upserted).
//!
//! Folders are walked recursively for `.txt`, `.md`, `.markdown`, `.html`, `.htm` and `.pdf`
//! files (hidden files and folders such as `.git` are passed over); HTML is stored without its
//! markup and PDF as its text layer (`services::file_text`, shared with uploads). A file's document id is its path relative to the
//! folder given (`guide.md`, `sub/notes.txt`; a file given by itself: its name), with
//! `--id-prefix` in front when set, so the id is the same however the folder is written
//! (`.`, `./docs`, an absolute path) and ingesting the same tree again replaces the documents
//! instead of adding copies. Its title is the first Markdown heading or the HTML `<title>`, else
//! the file name; its source is the id.
//!
//! Every file passed over is named on standard error with the reason, on a terminal or not:
//! files of other types in a folder (the command still succeeds), and files that could not be
//! ingested (not UTF-8, an unreadable PDF or one without a text layer, refused by the
//! retriever, an id already taken in this run), after which the command exits 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::services::documents::{self, NewDocument};
use crate::services::file_text::{self, KINDS_TEXT, Kind};

#[derive(clap::Args)]
pub struct IngestArgs {
    /// The tenant the documents belong to.
    #[arg(long)]
    tenant: String,
    /// Put this in front of every document id (e.g. `handbook/`). Without it, ids are paths
    /// relative to the folder given (a file given by itself: its name).
    #[arg(long, default_value = "")]
    id_prefix: String,
    /// Files and folders (folders are searched recursively for .txt, .md, .html and .pdf
    /// files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn is_text_file(path: &Path) -> bool {
    Kind::of(&path.to_string_lossy()).is_some()
}

fn is_hidden(entry: &walkdir::DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.')
}

/// A file to ingest and its document id.
#[derive(Debug, PartialEq, Eq)]
pub struct FileToIngest {
    pub path: PathBuf,
    pub id: String,
}

/// What `collect_files` found: the files to ingest, in a stable order; files of other types
/// in the folders (named, not an error); files that cannot be ingested, with the reason.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<FileToIngest>,
    pub ignored: Vec<String>,
    pub skipped: Vec<String>,
}

/// `sub\guide.md` → `sub/guide.md`: the same id on every platform and every run.
fn id_of(prefix: &str, relative: &Path) -> String {
    let text = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    format!("{prefix}{text}")
}

/// The files to ingest; an error names a given path that is missing or unusable.
pub fn collect_files(paths: &[PathBuf], prefix: &str) -> anyhow::Result<Collected> {
    let mut out = Collected::default();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut add = |out: &mut Collected, path: PathBuf, id: String| {
        if let Some(first) = seen.get(&id) {
            if first != &path {
                out.skipped.push(format!(
                    "{}: its id {id:?} is taken by {} in this run (ingest the folders one by one \
                     with --id-prefix)",
                    path.display(),
                    first.display()
                ));
            }
            return;
        }
        seen.insert(id.clone(), path.clone());
        out.files.push(FileToIngest { path, id });
    };
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let walker = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !is_hidden(e));
            for entry in walker {
                // Not `context`: walkdir's error already says its cause, and names it as its
                // source too, which the printed chain would repeat.
                let entry =
                    entry.map_err(|e| anyhow::anyhow!("cannot walk {}: {e}", path.display()))?;
                if !entry.file_type().is_file() {
                    continue;
                }
                if !is_text_file(entry.path()) {
                    out.ignored.push(format!(
                        "{}: not a {KINDS_TEXT} file",
                        entry.path().display()
                    ));
                    continue;
                }
                let relative = entry
                    .path()
                    .strip_prefix(path)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| PathBuf::from(entry.file_name()));
                let id = id_of(prefix, &relative);
                add(&mut out, entry.into_path(), id);
            }
        } else if is_text_file(path) {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            add(&mut out, path.clone(), id_of(prefix, &name));
        } else {
            anyhow::bail!("{} is not a {KINDS_TEXT} file", path.display());
        }
    }
    Ok(out)
}

/// Reads a file into the document `POST /documents` would receive.
pub fn read_document(path: &Path, id: String) -> anyhow::Result<NewDocument> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let file = file_text::extract(&path.to_string_lossy(), &bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| path.display().to_string())?;
    let title = file
        .title
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()));
    Ok(NewDocument {
        title,
        source: Some(id.clone()),
        id: Some(id),
        text: file.text,
        metadata: None,
    })
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let collected = collect_files(&args.paths, &args.id_prefix)?;
    // Said on stderr line by line, whether or not it is a terminal (CI logs, pipes).
    for message in &collected.ignored {
        eprintln!("skipped {message}");
    }
    for message in &collected.skipped {
        eprintln!("skipped {message}");
    }
    let files = collected.files;
    if files.is_empty() {
        anyhow::bail!("no {KINDS_TEXT} files found in the given paths");
    }
    let config = super::load_config()?;
    let state = crate::app::state::AppState::new(config)?;
    let tenant = state
        .tenants
        .get(&args.tenant)
        .await
        .with_context(|| format!("tenant {}", args.tenant))?;

    let (stored, chunks, failed) = ingest_files(tenant.retriever.as_ref(), files).await;
    let failed = failed + collected.skipped.len();
    println!(
        "ingest: stored {stored} document(s), {chunks} chunk(s) for tenant {}",
        args.tenant
    );
    if failed > 0 {
        anyhow::bail!("{failed} file(s) were skipped (each is named above with the reason)");
    }
    Ok(())
}

/// Stores `files` one by one, naming each that fails on stderr; returns how many were stored,
/// their chunks, and how many failed.
async fn ingest_files(
    retriever: &dyn crate::rag::retrieval::Retriever,
    files: Vec<FileToIngest>,
) -> (usize, usize, usize) {
    // Drawn only on a terminal (indicatif hides itself otherwise).
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut stored, mut chunks) = (0usize, 0usize);
    let mut failed = 0;
    for file in files {
        bar.set_message(file.path.display().to_string());
        let path = file.path.display().to_string();
        let outcome = match read_document(&file.path, file.id) {
            Ok(doc) => documents::ingest(retriever, vec![doc])
                .await
                .with_context(|| path.clone()),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(outcome) => {
                stored += 1;
                chunks += outcome.chunks;
            }
            Err(error) => {
                // `suspend` keeps the bar intact on a terminal; off one, it just prints.
                bar.suspend(|| eprintln!("skipped {}", super::sentence(&error)));
                failed += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    (stored, chunks, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_titles() {
        assert_eq!(id_of("", Path::new("sub/guide.md")), "sub/guide.md");
        assert_eq!(id_of("hb/", Path::new("guide.md")), "hb/guide.md");
        let dir = tempfile::tempdir().expect("tempdir");
        let read = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            read_document(&path, name.into()).expect("read").title
        };
        assert_eq!(
            read("notes.md", "intro\n# Getting started\n"),
            Some("Getting started".into())
        );
        assert_eq!(read("notes.txt", "no heading"), Some("notes".into()));
    }

    #[test]
    fn folders_are_walked_for_text_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        for name in [
            "a.md",
            "sub/b.txt",
            "sub/deeper/c.MD",
            "sub/image.png",
            ".git/HEAD.txt",
        ] {
            std::fs::write(root.join(name), "text").expect("write");
        }
        let collected = collect_files(&[root.to_path_buf()], "").expect("collect");
        let ids: Vec<&str> = collected.files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, vec!["a.md", "sub/b.txt", "sub/deeper/c.MD"]);
        assert!(collected.skipped.is_empty(), "{:?}", collected.skipped);
        assert_eq!(collected.ignored.len(), 1, "{:?}", collected.ignored);
        assert!(collected.ignored[0].contains("image.png: not a .txt, .md, .html or .pdf file"));
        // The same ids however the folder is written.
        let dotted = collect_files(&[root.join("sub/../sub")], "").expect("collect");
        let plain = collect_files(&[root.join("sub")], "").expect("collect");
        let ids = |c: &Collected| c.files.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&dotted), ids(&plain));
        assert_eq!(ids(&plain), vec!["b.txt", "deeper/c.MD"]);
        // Two folders with the same relative path: the second is named, not silently lost.
        for dir in ["one", "two"] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
            std::fs::write(root.join(dir).join("same.md"), "text").expect("write");
        }
        let both = collect_files(&[root.join("one"), root.join("two")], "").expect("c");
        assert_eq!(both.files.len(), 1);
        assert_eq!(both.skipped.len(), 1, "{:?}", both.skipped);
        assert!(
            both.skipped[0].contains("is taken by"),
            "{:?}",
            both.skipped
        );
        assert!(collect_files(&[root.join("sub/image.png")], "").is_err());
        assert!(collect_files(&[root.join("missing")], "").is_err());
    }
}
