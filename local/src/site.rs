//! What a person opens in a browser: the demo contacts panel at `/` and the API reference at
//! `/docs`. The panel is a client of the public API only (tokens from `/_local/token`), built by
//! `scripts/lib.sh` into `panel/dist`; the reference is `openapi.yaml` in the pinned Swagger UI
//! and the pages under `docs/`, rendered from Markdown here. Everything is served from the
//! repository, offline; none of it is deployed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tower_http::services::{ServeDir, ServeFile};

/// Where the files are, and the demo CRM a new connection is pre-filled with.
#[derive(Debug, Clone)]
pub struct Site {
    pub root: PathBuf,
    /// `DEMO_CRM_URL`: the stand-in CRM `./scripts/dev` runs, if any.
    pub demo_crm_url: Option<String>,
}

/// The reference pages, in the order the navigation lists them: (page, title).
const PAGES: &[(&str, &str)] = &[
    ("README", "Overview"),
    ("events", "Events"),
    ("crm", "CRM guide"),
    ("architecture", "Architecture"),
    ("data-model", "Data model"),
    ("operations", "Operations"),
    ("measurements", "Measurements"),
];

pub fn router(site: Site) -> Router {
    let panel = site.root.join("panel");
    let docs = site.root.join("docs");
    let swagger = panel.join("node_modules/swagger-ui-dist");
    Router::new()
        .route_service("/", ServeFile::new(panel.join("dist/index.html")))
        .nest_service("/panel", ServeDir::new(panel.join("dist")))
        .route_service("/docs/api", ServeFile::new(panel.join("dist/api.html")))
        .nest_service("/docs/vendor/swagger-ui", ServeDir::new(swagger))
        .route_service(
            "/openapi.yaml",
            ServeFile::new(site.root.join("openapi.yaml")),
        )
        .nest_service("/docs/images", ServeDir::new(docs.join("images")))
        .route_service(
            "/docs/events.schema.json",
            ServeFile::new(docs.join("events.schema.json")),
        )
        // Served at `/docs/` so that the pages' relative links (`crm.md`) stay under `/docs`.
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(index))
        .route("/docs/{page}", get(page))
        .route("/README.md", get(front_page))
        .route("/_local/demo-crm", get(demo_crm))
        .with_state(Arc::new(site))
}

/// `GET /_local/demo-crm` → `{"url": string|null}`: what the panel pre-fills a connection with.
async fn demo_crm(State(site): State<Arc<Site>>) -> axum::Json<Value> {
    axum::Json(json!({ "url": site.demo_crm_url }))
}

async fn index(State(site): State<Arc<Site>>) -> Response {
    render(&site.root.join("docs/README.md"), "README", &site.root)
}

async fn front_page(State(site): State<Arc<Site>>) -> Response {
    render(&site.root.join("README.md"), "", &site.root)
}

/// `/docs/{page}` and `/docs/{page}.md` (how the pages link to each other) are one page.
async fn page(State(site): State<Arc<Site>>, UrlPath(name): UrlPath<String>) -> Response {
    let name = name.strip_suffix(".md").unwrap_or(&name);
    match PAGES.iter().find(|(page, _)| *page == name) {
        Some((page, _)) => render(
            &site.root.join("docs").join(format!("{page}.md")),
            page,
            &site.root,
        ),
        None => (StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

fn render(file: &Path, current: &str, root: &Path) -> Response {
    let Ok(mut markdown) = std::fs::read_to_string(file) else {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    };
    if current == "events" {
        markdown.push_str(&schemas(&root.join("docs/events.schema.json")));
    }
    let title = markdown
        .lines()
        .find_map(|line| line.strip_prefix("# "))
        .unwrap_or("Inbox Contacts")
        .to_owned();
    let mut body = String::new();
    let options = pulldown_cmark::Options::ENABLE_TABLES
        | pulldown_cmark::Options::ENABLE_HEADING_ATTRIBUTES
        | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    pulldown_cmark::html::push_html(
        &mut body,
        pulldown_cmark::Parser::new_ext(&markdown, options),
    );
    let nav: String = std::iter::once(("/".to_owned(), "Panel", false))
        .chain(PAGES.iter().flat_map(|(page, title)| {
            let href = if *page == "README" {
                "/docs/".to_owned()
            } else {
                format!("/docs/{page}")
            };
            let api = (*page == "README").then(|| ("/docs/api".to_owned(), "API reference", false));
            std::iter::once((href, *title, *page == current)).chain(api)
        }))
        .map(|(href, title, here)| {
            let current = if here { r#" aria-current="page""# } else { "" };
            format!(r#"<li><a href="{href}"{current}>{title}</a></li>"#)
        })
        .collect();
    let title = escape(&title);
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Inbox Contacts</title>
<link rel="stylesheet" href="/panel/docs.css">
</head>
<body>
<header class="docs-header"><a class="brand" href="/docs/">Inbox Contacts</a>
<nav aria-label="Reference"><ul>{nav}</ul></nav></header>
<main id="content">
{body}
</main>
</body>
</html>
"#
    ))
    .into_response()
}

/// The event catalogue's JSON Schemas, one section per event type, from the one schema file
/// the tests validate every event against.
fn schemas(file: &Path) -> String {
    let Some(schema) = std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return "\n\n*The JSON Schemas are missing: `docs/events.schema.json`.*\n".to_owned();
    };
    let mut out = String::from(
        "\n\n## JSON Schemas\n\nEach event type's schema (JSON Schema 2020-12), from \
         [`events.schema.json`](events.schema.json), which every event the tests produce is \
         validated against.\n",
    );
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs.iter().filter(|(name, _)| name.contains('.')) {
            let pretty = serde_json::to_string_pretty(def).unwrap_or_default();
            out.push_str(&format!(
                "\n### `{name}` {{#schema-{}}}\n\n```json\n{pretty}\n```\n",
                name.replace('.', "-")
            ));
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
