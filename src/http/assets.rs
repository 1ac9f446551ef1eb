//! Files embedded in the binary and served as they are: the pages of `/graphiql` and `/scorecard` and the
//! third-party builds they load (vendored under `assets/`, each folder's README says where each comes from).

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

pub const HTML: &str = "text/html; charset=utf-8";
pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";

/// One embedded file, served at its page's path followed by `path`.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// Its name carries its version, so a browser may keep it for good.
    pub versioned: bool,
}

impl Asset {
    /// The file, with `csp` as the Content-Security-Policy of an HTML page.
    pub fn serve(&'static self, csp: &'static str) -> HttpResponse {
        let cache = if self.versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
        let mut r = HttpResponse::Ok();
        r.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(self.content_type)))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
        if self.content_type == HTML {
            r.insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp)));
        }
        r.body(self.body)
    }
}

/// `scope` with a GET route for each of `assets` (at the scope's path followed by the asset's), pages served with
/// `csp` as their Content-Security-Policy.
pub fn serve_all<T>(
    mut scope: actix_web::Scope<T>,
    assets: &'static [Asset],
    csp: &'static str,
) -> actix_web::Scope<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    for asset in assets {
        scope = scope.route(asset.path, web::get().to(move || std::future::ready(asset.serve(csp))));
    }
    scope
}
