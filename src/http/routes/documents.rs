//! `POST /documents`, `GET /documents`, `DELETE /documents/{id}`: the tenant's documents.
//!
//! Reading is open to any caller of the tenant; writing needs the tenant's API key or a
//! superuser's token (a frontend user's token may search and chat, not change the corpus).
//! Ids are scoped to the tenant: the retriever only ever sees the request's tenant's rows, so
//! another tenant's document answers 404 exactly like a missing one.
//!
//! `POST /documents` takes JSON, or `multipart/form-data` files (a browser's
//! `<input type="file" name="file" multiple>`): each `file` part becomes a document whose id is
//! its file name (after an optional `id_prefix` part), read by `services::file_text` as
//! `tenantgate ingest` reads files. Both forms share the body limit and the validation.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::app::state::AppState;
use crate::errors::{AppError, AppResult, FieldError};
use crate::http::extractors::{CallerOf, CurrentTenant};
use crate::http::routes::params::Page;
use crate::http::routes::{ValidJson, ValidQuery, deleted};
use crate::http::writers::require_writer;
use crate::rag::retrieval::DocumentSummary;
use crate::services::documents::{self as service, IngestOutcome, IngestRequest, NewDocument};
use crate::services::file_text;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentSummary>,
}

/// The multipart form of `POST /documents`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the form for OpenAPI; the parts are read one by one.
pub struct UploadForm {
    /// One or more files (`.txt`, `.md`, `.html`, `.pdf`); each is one document whose id and
    /// source are its file name (with `id_prefix` in front), its title the Markdown heading or
    /// HTML `<title>`, else the file name. Uploading the same name again replaces it.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    /// Put in front of every file name to make the id (e.g. `handbook/`).
    id_prefix: Option<String>,
}

#[utoipa::path(post, path = "/documents", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    request_body(description = "JSON documents, or files as multipart/form-data (the same body limit)",
        content((IngestRequest = "application/json"), (UploadForm = "multipart/form-data"))),
    responses(
        (status = 201, body = IngestOutcome),
        (status = 403, description = "forbidden: not the tenant's API key nor a superuser", body = crate::http::error::ErrorBody),
        (status = 413, description = "payload_too_large", body = crate::http::error::ErrorBody),
        (status = 422, description = "validation_error (for an upload: naming the file that could not be read)", body = crate::http::error::ErrorBody),
        (status = 502, description = "upstream_error (embeddings or vector store)", body = crate::http::error::ErrorBody),
        (status = 504, description = "upstream_timeout", body = crate::http::error::ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    request: Request,
) -> AppResult<(StatusCode, Json<IngestOutcome>)> {
    // Who may write is settled before the body is read.
    require_writer(&state, &caller).await?;
    let outcome = if is_multipart(&request) {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|_| AppError::validation("body", "not a readable multipart/form-data body"))?;
        let (names, documents) = read_uploads(multipart).await?;
        service::ingest(tenant.retriever.as_ref(), documents)
            .await
            .map_err(|e| name_the_files(e, &names))?
    } else {
        let ValidJson(input) = ValidJson::<IngestRequest>::from_request(request, &state).await?;
        service::ingest(tenant.retriever.as_ref(), input.documents).await?
    };
    tracing::info!(
        tenant_id = %tenant.id,
        documents = outcome.ids.len(),
        chunks = outcome.chunks,
        "documents stored"
    );
    Ok((StatusCode::CREATED, Json(outcome)))
}

fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> AppError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::validation("body", "not a readable multipart/form-data body")
    }
}

/// `C:\fakepath\guide.md` or `docs/guide.md` → `guide.md`: only the name is the caller's to give.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

/// The uploaded files as documents, with each one's file name; a file that cannot be read is
/// a 422 naming it. Parts are read one at a time under the body limit.
async fn read_uploads(mut multipart: Multipart) -> AppResult<(Vec<String>, Vec<NewDocument>)> {
    let mut prefix = String::new();
    let mut files: Vec<(String, bytes::Bytes)> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let part = field.name().unwrap_or_default().to_owned();
        match part.as_str() {
            "file" | "files" => {
                let Some(name) = field.file_name().map(|n| base_name(n).to_owned()) else {
                    return Err(AppError::validation(&part, "must be a file"));
                };
                let bytes = field.bytes().await.map_err(multipart_error)?;
                // A browser sends an empty, nameless part when no file was chosen.
                if name.is_empty() && bytes.is_empty() {
                    continue;
                }
                if files.len() >= service::MAX_DOCUMENTS {
                    return Err(AppError::validation(
                        "file",
                        format!("at most {} files per request", service::MAX_DOCUMENTS),
                    ));
                }
                files.push((name, bytes));
            }
            "id_prefix" => prefix = field.text().await.map_err(multipart_error)?,
            _ => {
                return Err(AppError::validation(
                    "body",
                    "unknown form field (expected file and id_prefix)",
                ));
            }
        }
    }
    if files.is_empty() {
        return Err(AppError::validation("file", "no file was uploaded"));
    }
    // Parsing HTML and PDF is CPU work: off the async threads.
    tokio::task::spawn_blocking(move || extract_files(&prefix, files))
        .await
        .map_err(AppError::internal)?
}

/// The text of each file as a document (id and source `{prefix}{file name}`), with the file
/// names in order; every file that cannot be read is named in one 422.
fn extract_files(
    prefix: &str,
    files: Vec<(String, bytes::Bytes)>,
) -> AppResult<(Vec<String>, Vec<NewDocument>)> {
    let mut names = Vec::with_capacity(files.len());
    let mut documents = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for (name, bytes) in files {
        match file_text::extract(&name, &bytes) {
            Ok(file) => {
                let title = file.title.or_else(|| {
                    std::path::Path::new(&name)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                });
                let id = format!("{prefix}{name}");
                documents.push(NewDocument {
                    title,
                    source: Some(id.clone()),
                    id: Some(id),
                    text: file.text,
                    metadata: None,
                });
            }
            Err(reason) => errors.push(FieldError::new("file", format!("{name}: {reason}"))),
        }
        names.push(name);
    }
    if errors.is_empty() {
        Ok((names, documents))
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// The service names fields `documents[i].text`; an uploader knows files by their names.
fn name_the_files(error: AppError, names: &[String]) -> AppError {
    let AppError::Validation { errors, .. } = error else {
        return error;
    };
    let renamed = errors
        .into_iter()
        .map(|e| {
            let file = e
                .field
                .strip_prefix("documents[")
                .and_then(|rest| rest.split_once("]."))
                .and_then(|(i, field)| Some((names.get(i.parse::<usize>().ok()?)?, field)));
            match file {
                Some((name, field)) => {
                    FieldError::new("file", format!("{name}: {field} {}", e.message))
                }
                None => e,
            }
        })
        .collect();
    AppError::invalid_fields(renamed)
}

#[utoipa::path(get, path = "/documents", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    params(Page),
    responses((status = 200, body = DocumentList)))]
pub async fn list(
    CurrentTenant(tenant): CurrentTenant,
    ValidQuery(page): ValidQuery<Page>,
) -> AppResult<Json<DocumentList>> {
    let (limit, offset) = page.checked()?;
    let documents = tenant.retriever.list(limit, offset).await?;
    Ok(Json(DocumentList { documents }))
}

#[utoipa::path(delete, path = "/documents/{*id}", tag = "documents", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "the document id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "forbidden", body = crate::http::error::ErrorBody),
        (status = 404, description = "not_found (also for another tenant's document)", body = crate::http::error::ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    CallerOf(caller): CallerOf,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require_writer(&state, &caller).await?;
    deleted(tenant.retriever.delete(&id).await?, "document")
}
