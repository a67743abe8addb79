//! The web map's files, built into the binary so an installed `sitefinder serve` needs no
//! checkout: `web/app/` (index.html, app.js, style.css) with Leaflet vendored in
//! `web/app/vendor/leaflet/` (its dist files and licence, the version `web/package.json` names).
//!
//! [`router`] serves them (or, for development, the files of a folder on disk) as the server's
//! fallback: GET and HEAD, `/` is index.html, the Content-Type is guessed from the extension,
//! and an unknown path is the API's one error shape with 404.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use include_dir::{include_dir, Dir};

/// The map's files as built into the binary (from `web/app/`).
pub static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web/app");

/// A router (no state) whose fallback serves the map: the embedded files, or those under
/// The hash of the page's one inline script, its import map (`web/app/index.html`): the only
/// inline script the page's security policy lets run. A test recomputes it from the page.
pub const IMPORT_MAP_SHA256: &str = "sha256-hkz85uNP2DNU4OkV68JeQIIyxm0i6snQw1ARUbxj/OI=";

/// `web_dir` when it is `Some` (read on every request, so edits show on reload).
pub fn router(web_dir: Option<PathBuf>) -> Router {
    let web_dir = Arc::new(web_dir);
    Router::new().fallback_service(get(move |uri: Uri, headers: HeaderMap| {
        let web_dir = web_dir.clone();
        async move { serve(web_dir.as_ref().as_deref(), &uri, &headers).await }
    }))
}

/// One file of the map (`/` is index.html), or the API's 404.
pub async fn serve(web_dir: Option<&Path>, uri: &Uri, headers: &HeaderMap) -> Response {
    let Some(rel) = file_path(uri.path()) else {
        return not_found();
    };
    let body: Cow<'static, [u8]> = match web_dir {
        None => match WEB.get_file(&rel) {
            Some(f) => Cow::Borrowed(f.contents()),
            None => return not_found(),
        },
        Some(dir) => {
            let path = dir.join(&rel);
            let read = tokio::task::spawn_blocking(move || {
                if path.is_file() {
                    std::fs::read(&path).map(Some)
                } else {
                    Ok(None)
                }
            })
            .await;
            match read {
                Ok(Ok(Some(bytes))) => Cow::Owned(bytes),
                Ok(Ok(None)) => return not_found(),
                Ok(Err(e)) => return internal(format!("{rel}: {e}")),
                Err(e) => return internal(e),
            }
        }
    };
    let etag = etag(&body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_owned().into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type(&rel));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    // Revalidate each time (cheap with the ETag), so a new binary's files are never stale.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The file a request path names, relative to the map's folder: percent-decoded, `/` and any
/// path ending in `/` mean its index.html; `None` for anything that is not a plain relative
/// path (`..`, `.`, empty segments, backslashes, NUL).
fn file_path(uri_path: &str) -> Option<String> {
    let decoded = percent_decode(uri_path)?;
    let mut rel = decoded.strip_prefix('/').unwrap_or(&decoded).to_string();
    if rel.is_empty() || rel.ends_with('/') {
        rel.push_str("index.html");
    }
    let plain = rel.split('/').all(|s| {
        !s.is_empty() && s != "." && s != ".." && !s.contains(['\\', '\0']) && !s.contains(':')
    });
    plain.then_some(rel)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type for a file name: `mime_guess`'s first guess (else octet-stream), with
/// `charset=utf-8` on text types.
fn content_type(rel: &str) -> HeaderValue {
    let mime = mime_guess::from_path(rel).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml");
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// A strong validator: the length and 64-bit FNV-1a of the bytes.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}-{}\"", body.len())
}

/// The API's not-found answer (the same shape as every error of the server).
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({
            "code": "not_found",
            "message": "no such resource; see /api for the routes",
        })),
    )
        .into_response()
}

fn internal(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"code": "internal", "message": message.to_string()})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Got {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    fn request(app: Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Got {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut req = Request::builder().method(method).uri(uri);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec();
            Got {
                status,
                headers,
                body,
            }
        })
    }

    fn get_(uri: &str) -> Got {
        request(router(None), Method::GET, uri, &[])
    }

    fn ctype(g: &Got) -> &str {
        g.headers[header::CONTENT_TYPE].to_str().unwrap()
    }

    #[test]
    fn the_page_and_every_file_it_references_are_embedded() {
        let page = get_("/");
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(ctype(&page), "text/html; charset=utf-8");
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("Open Government Licence"));
        let mut refs = vec![];
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                let r = part.split('"').next().unwrap();
                if r.ends_with(".js") || r.ends_with(".css") {
                    refs.push(r.to_string());
                }
            }
        }
        assert!(
            refs.contains(&"vendor/leaflet/leaflet.js".to_string())
                && refs.contains(&"vendor/leaflet/leaflet.css".to_string()),
            "{refs:?}"
        );
        for r in &refs {
            let g = get_(&format!("/{r}"));
            assert_eq!(g.status, StatusCode::OK, "{r}");
            assert!(!g.body.is_empty(), "{r}");
            let want = if r.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else {
                "text/css; charset=utf-8"
            };
            assert_eq!(ctype(&g), want, "{r}");
        }
        let png = get_("/vendor/leaflet/images/marker-icon.png");
        assert_eq!(png.status, StatusCode::OK);
        assert_eq!(ctype(&png), "image/png");
        assert!(png.body.starts_with(b"\x89PNG"));
        assert_eq!(get_("/index.html").body, html.as_bytes());
    }

    #[test]
    fn unknown_and_odd_paths_are_the_api_not_found() {
        for uri in [
            "/no/such/route",
            "/vendor",
            "/vendor/",
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/vendor/../index.html",
            "//etc/passwd",
            "/app.js%00",
            "/%zz",
            "/package.json",
        ] {
            let g = get_(uri);
            assert_eq!(g.status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(ctype(&g), "application/json", "{uri}");
            let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
            assert_eq!(
                v,
                serde_json::json!({"code": "not_found", "message": "no such resource; see /api for the routes"}),
                "{uri}"
            );
        }
    }

    #[test]
    fn head_has_the_headers_and_no_body_and_other_methods_are_refused() {
        let full = get_("/app.js");
        let head = request(router(None), Method::HEAD, "/app.js", &[]);
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        assert_eq!(ctype(&head), ctype(&full));
        assert_eq!(
            head.headers[header::CONTENT_LENGTH],
            full.body.len().to_string().as_str()
        );
        let post = request(router(None), Method::POST, "/app.js", &[]);
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn a_matching_etag_is_not_modified() {
        let first = get_("/style.css");
        let tag = first.headers[header::ETAG].to_str().unwrap().to_string();
        let again = request(
            router(None),
            Method::GET,
            "/style.css",
            &[("if-none-match", &tag)],
        );
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        let other = request(
            router(None),
            Method::GET,
            "/style.css",
            &[("if-none-match", "\"other\"")],
        );
        assert_eq!(other.status, StatusCode::OK);
        assert_eq!(other.body, first.body);
    }

    #[test]
    fn a_folder_on_disk_is_served_instead_when_given() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>dev page</p>").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/data.json"), "{}").unwrap();
        let app = || router(Some(dir.path().to_path_buf()));
        let page = request(app(), Method::GET, "/", &[]);
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body, b"<p>dev page</p>");
        let json = request(app(), Method::GET, "/sub/data.json", &[]);
        assert_eq!(ctype(&json), "application/json; charset=utf-8");
        for uri in ["/app.js", "/sub", "/sub/", "/../index.html"] {
            let g = request(app(), Method::GET, uri, &[]);
            assert_eq!(g.status, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    /// The page's import map (its only inline script) is what the security policy allows:
    /// its SHA-256, as the policy states it, is [`IMPORT_MAP_SHA256`].
    #[test]
    fn the_policy_allows_the_pages_import_map_and_nothing_else_inline() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let page = std::str::from_utf8(WEB.get_file("index.html").unwrap().contents()).unwrap();
        let inline: Vec<&str> = page
            .split("<script")
            .skip(1)
            .filter(|s| !s.split('>').next().unwrap().contains("src="))
            .map(|s| {
                s.split_once('>')
                    .unwrap()
                    .1
                    .split("</script>")
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            inline.len(),
            1,
            "one inline script, the import map: {inline:?}"
        );
        assert!(page.contains(&format!(
            "<script type=\"importmap\">{}</script>",
            inline[0]
        )));
        let hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline[0]));
        assert_eq!(format!("sha256-{hash}"), IMPORT_MAP_SHA256);
    }

    /// The vendored map decoders (`@mapbox/vector-tile`, `pbf`, `@mapbox/point-geometry`) are
    /// the versions `web/package.json` names and, where `npm ci` has filled `web/node_modules`,
    /// byte for byte the packages' files.
    #[test]
    fn the_vendored_tile_decoders_are_the_npm_packages() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let pkg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(web.join("package.json")).unwrap())
                .unwrap();
        for (name, dir, files) in [
            (
                "@mapbox/vector-tile",
                "vector-tile",
                ["index.js", "LICENSE.txt"],
            ),
            ("pbf", "pbf", ["index.js", "LICENSE"]),
            (
                "@mapbox/point-geometry",
                "point-geometry",
                ["index.js", "LICENSE"],
            ),
        ] {
            let version = pkg["dependencies"][name].as_str().unwrap();
            let npm = web.join("node_modules").join(name);
            for f in files {
                let ours = WEB
                    .get_file(format!("vendor/{dir}/{f}"))
                    .unwrap_or_else(|| panic!("web/app/vendor/{dir}/{f} is missing"))
                    .contents();
                assert!(!ours.is_empty());
                if !npm.is_dir() {
                    continue;
                }
                let npm_pkg: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(npm.join("package.json")).unwrap(),
                )
                .unwrap();
                assert_eq!(
                    npm_pkg["version"], version,
                    "{name}: run `npm ci --prefix web`"
                );
                assert!(
                    ours == std::fs::read(npm.join(f)).unwrap().as_slice(),
                    "web/app/vendor/{dir}/{f} differs from web/node_modules/{name}/{f}"
                );
            }
        }
    }

    /// The vendored Leaflet is the version `web/package.json` names and, where `npm ci` has
    /// filled `web/node_modules`, byte for byte the package's dist files: updating the package
    /// without copying its files (or the reverse) fails here.
    #[test]
    fn the_vendored_leaflet_is_the_npm_package() {
        let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let pkg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(web.join("package.json")).unwrap())
                .unwrap();
        let version = pkg["dependencies"]["leaflet"].as_str().unwrap();
        let vendored = |f: &str| {
            WEB.get_file(format!("vendor/leaflet/{f}"))
                .unwrap_or_else(|| panic!("web/app/vendor/leaflet/{f} is missing"))
                .contents()
        };
        let js = std::str::from_utf8(vendored("leaflet.js")).unwrap();
        assert!(
            js.contains(&format!("Leaflet {version},")),
            "web/app/vendor/leaflet/leaflet.js is not Leaflet {version}"
        );
        assert!(!vendored("LICENSE").is_empty());

        let npm = web.join("node_modules/leaflet");
        if !npm.is_dir() {
            eprintln!("web/node_modules/leaflet is absent (run `npm ci --prefix web`): only the version is checked");
            return;
        }
        let npm_pkg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(npm.join("package.json")).unwrap())
                .unwrap();
        assert_eq!(npm_pkg["version"], version, "run `npm ci --prefix web`");
        let mut files = vec!["leaflet.js".to_string(), "leaflet.css".to_string()];
        for e in std::fs::read_dir(npm.join("dist/images")).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            files.push(format!("images/{name}"));
        }
        for f in &files {
            let theirs = std::fs::read(npm.join("dist").join(f)).unwrap();
            assert!(
                vendored(f) == theirs.as_slice(),
                "web/app/vendor/leaflet/{f} differs from web/node_modules/leaflet/dist/{f}: \
                 copy the package's dist files into web/app/vendor/leaflet/"
            );
        }
        assert!(
            vendored("LICENSE") == std::fs::read(npm.join("LICENSE")).unwrap().as_slice(),
            "web/app/vendor/leaflet/LICENSE differs from the package's"
        );
    }
}
