//! The scorecard page: a unit's Decision 766 report, its groups and metrics with the points lost, the ranking of
//! its children, its monthly series as a chart and the breakdown of any metric, read from the public GraphQL API
//! by the browser (and the drill-down lists with a LEADER or ADMIN token the user pastes). The page, its script
//! and uPlot (vendored in `assets/scorecard/`) are served from the binary: no build step, no other host.

use actix_web::middleware::Compress;
use actix_web::{HttpResponse, web};

use super::assets::{Asset, CSS, HTML, JS, serve_all};

/// Everything `/scorecard` serves.
pub static ASSETS: [Asset; 5] = [
    Asset {
        path: "",
        content_type: HTML,
        body: include_bytes!("../../assets/scorecard/index.html"),
        versioned: false,
    },
    Asset {
        path: "/scorecard.js",
        content_type: JS,
        body: include_bytes!("../../assets/scorecard/scorecard.js"),
        versioned: false,
    },
    Asset {
        path: "/scorecard.css",
        content_type: CSS,
        body: include_bytes!("../../assets/scorecard/scorecard.css"),
        versioned: false,
    },
    Asset {
        path: "/uplot-1.6.32.iife.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/scorecard/uplot-1.6.32.iife.min.js"),
        versioned: true,
    },
    Asset {
        path: "/uplot-1.6.32.min.css",
        content_type: CSS,
        body: include_bytes!("../../assets/scorecard/uplot-1.6.32.min.css"),
        versioned: true,
    },
];

/// What the page may load: its own files, and requests to this gateway only (uPlot sizes its elements through
/// their style properties).
const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; ",
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
);

/// The routes under `/scorecard`, compressed for browsers that accept it; `/` leads there.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let scope =
        serve_all(web::scope("/scorecard").wrap(Compress::default()), &ASSETS, CONTENT_SECURITY_POLICY);
    cfg.service(scope).route(
        "/",
        web::get().to(|| async { HttpResponse::Found().insert_header(("Location", "/scorecard")).finish() }),
    );
}
