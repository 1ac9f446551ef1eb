//! GraphiQL, served from the binary: the page, its start script, and the GraphiQL and React builds vendored
//! in `assets/graphiql/` (its README says where each comes from), so that `/graphiql` works on a machine
//! without internet access. The page names only these files.

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{HttpResponse, web};

use super::assets::{Asset, CSS, HTML, JS, serve_all};

/// Everything `/graphiql` serves.
pub static ASSETS: [Asset; 6] = [
    Asset {
        path: "",
        content_type: HTML,
        body: include_bytes!("../../assets/graphiql/index.html"),
        versioned: false,
    },
    Asset {
        path: "/start.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/start.js"),
        versioned: false,
    },
    Asset {
        path: "/graphiql-3.9.0.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.js"),
        versioned: true,
    },
    Asset {
        path: "/graphiql-3.9.0.min.css",
        content_type: CSS,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.css"),
        versioned: true,
    },
    Asset {
        path: "/react-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
        versioned: true,
    },
    Asset {
        path: "/react-dom-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
        versioned: true,
    },
];

/// What the page may load: its own files only (GraphiQL sets inline styles, and its fonts are data URLs).
const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; ",
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
);

/// What GraphiQL asks the schema for, answered at `/graphiql/schema.json`.
const INTROSPECTION_QUERY: &str = include_str!("../../assets/graphiql/introspection.graphql");

/// The routes under `/graphiql`, compressed for browsers that accept it (the GraphiQL build is about 1 MB).
/// With `introspection` off, the schema is not served either.
pub fn routes(cfg: &mut web::ServiceConfig, introspection: bool) {
    let mut scope =
        serve_all(web::scope("/graphiql").wrap(Compress::default()), &ASSETS, CONTENT_SECURITY_POLICY);
    if introspection {
        scope = scope.route("/schema.json", web::get().to(schema));
    }
    cfg.service(scope);
}

/// The schema's introspection, computed once: GraphiQL's own introspection query nests deeper than
/// `MAX_QUERY_DEPTH`, so the page asks here instead of at `/graphql`.
async fn schema() -> HttpResponse {
    static ANSWER: tokio::sync::OnceCell<Vec<u8>> = tokio::sync::OnceCell::const_new();
    let body = ANSWER
        .get_or_init(|| async {
            serde_json::to_vec(&crate::graphql::introspect(INTROSPECTION_QUERY).await).unwrap_or_default()
        })
        .await;
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body.clone())
}
