//! The console's assets as the server sends them: types, and the headers that keep the page
//! to its own script and style. The page's behaviour is tested in a real browser
//! (tests/console/console.test.mjs).

mod common;

use common::Server;

fn get(url: &str) -> (u16, ureq::http::HeaderMap, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent.get(url).call().expect("request");
    let body = res.body_mut().read_to_string().expect("text");
    (res.status().as_u16(), res.headers().clone(), body)
}

#[test]
fn the_console_is_served_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    for (path, content_type, marker) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<script src=\"/console.js\" defer>",
        ),
        (
            "/console.js",
            "text/javascript; charset=utf-8",
            "textContent",
        ),
        ("/console.css", "text/css; charset=utf-8", ":root"),
    ] {
        let (status, headers, body) = get(&format!("{}{path}", server.base));
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"));
        assert!(body.contains(marker), "{path}");
    }
    // The page writes the API's data as text only: no HTML sinks in the script.
    let (_, _, script) = get(&format!("{}/console.js", server.base));
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "console.js uses {sink}");
    }
    // The API's own answers are unchanged around it.
    let (status, headers, _) = get(&format!("{}/nothing-here", server.base));
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    server.stop();
}
