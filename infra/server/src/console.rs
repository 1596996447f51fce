//! The job console at `/`: one small page, served from the binary, that is a client of the
//! public API only (it lists, follows, submits and cancels through the same routes as the
//! CLI). Everything it shows from the API is set as text, and the policy below forbids any
//! script or style not served here.
//!
//! The submit form offers the server's own job types: the page is rendered once, at start,
//! from the registry the server runs, each type with its example input.

use accepted_core::JobRegistry;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Where the page lists the job types.
const TYPES_MARKER: &str = "<!-- job types -->";

/// The console's routes, to merge into the API's router, for `registry`'s job types.
pub fn routes<S: Clone + Send + Sync + 'static>(registry: &JobRegistry) -> Router<S> {
    let page = Bytes::from(page(registry));
    Router::new()
        .route(
            "/",
            get(move || async move { asset("text/html; charset=utf-8", page) }),
        )
        .route(
            "/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

/// The page with one `<option>` per job type, its example input in `data-example`.
fn page(registry: &JobRegistry) -> String {
    let mut options = String::new();
    for job_type in registry.types() {
        let example = registry
            .get(job_type)
            .and_then(|handler| handler.example_input())
            .map_or_else(|| "{}".to_owned(), |input| input.to_string());
        let name = escape(job_type);
        options.push_str(&format!(
            "<option value=\"{name}\" data-example=\"{}\">{name}</option>\n",
            escape(&example)
        ));
    }
    INDEX.replacen(TYPES_MARKER, &options, 1)
}

/// Text safe in an HTML element or a double-quoted attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn asset(content_type: &'static str, text: impl Into<Body>) -> Response {
    let mut response = Response::new(text.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    // Small and served locally: always revalidate, so a new binary's page is what loads.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_offers_each_type_with_its_example() {
        let html = page(&accepted_builtin_jobs::registry());
        assert!(!html.contains(TYPES_MARKER));
        assert!(html.contains(
            "<option value=\"demo.sleep\" data-example=\"{&quot;duration_ms&quot;:3000}\">demo.sleep</option>"
        ));
        assert!(html.contains("<option value=\"csv.summary\" data-example=\"{&quot;csv&quot;:"));
        let empty = page(&JobRegistry::default());
        assert!(!empty.contains("<option value=\"demo.sleep\""));
        assert!(INDEX.contains(TYPES_MARKER), "the page has its marker");
    }

    #[test]
    fn markup_in_a_name_or_an_example_stays_text() {
        assert_eq!(escape("<b x='1'>&\""), "&lt;b x=&#39;1&#39;&gt;&amp;&quot;");
    }
}
