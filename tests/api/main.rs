#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The one integration-test binary. Every test gets its own database (a fresh SQLite file, or a fresh
//! PostgreSQL schema) so tests never see each other's data. PostgreSQL tests fail, never skip, when the
//! server is missing.

mod audit;
mod auth;
mod cache;
mod crash;
mod fuzz;
mod graphql;
mod http;
mod import_export;
mod indicators;
mod policy;
mod privacy;
mod readme;
mod replicas;
mod robustness;
mod rules;
mod scorecard;
mod series;
mod statements;
mod storage;
mod summaries;
mod support;
