//! dvc-gateway: a GraphQL API gateway for Vietnam's public-service data.
//!
//! Layers (see ARCHITECTURE.md, drawn from the imports): `cli` → `startup` → `http` → `graphql` → `service`
//! (policy, audit decisions) → `indicators` → `app` → `interchange` / `audit` / `cache` → `db` / `auth` →
//! `entity` / `config` / `pii`, with the `domain` crate (the rules, no framework) below them all.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub use domain;
pub mod graphql;
pub mod http;
pub mod indicators;
pub mod interchange;
pub mod pii;
pub mod rate;
pub mod service;
pub mod startup;
