//! The GraphQL schema. It knows nothing about HTTP: the transport attaches the verified [`Caller`] and a fresh
//! [`Loaders`] set to each request.

pub mod enums;
pub mod error;
pub mod indicators;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

use async_graphql::{Context, MergedObject, Schema};

use crate::app::App;
use crate::auth::{Caller, Role};
use crate::db::read::Visibility;
use crate::domain::time::now;
pub use error::{ApiError, IntoGql};
pub use loaders::Loaders;

/// Root of every query.
#[derive(MergedObject, Default)]
pub struct Query(query::CoreQuery, indicators::IndicatorQuery);

/// The schema type.
pub type GatewaySchema = Schema<Query, mutation::Mutation, subscription::Subscription>;

/// Builds the schema with the request limits of the settings.
pub fn build_schema(app: App) -> GatewaySchema {
    let limits = app.settings.limits;
    Schema::build(Query::default(), mutation::Mutation, subscription::Subscription)
        .data(app)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(20)
        .finish()
}

/// The SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), mutation::Mutation, subscription::Subscription).finish().sdl()
}

pub(crate) fn app<'a>(ctx: &Context<'a>) -> &'a App {
    ctx.data_unchecked::<App>()
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub(crate) fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous)
}

/// What the caller may see, as of now.
pub(crate) async fn visibility(ctx: &Context<'_>) -> async_graphql::Result<Visibility> {
    let app = app(ctx);
    let tree = app.units().await.gql()?;
    Ok(Visibility::of(caller(ctx), &tree, &app.vault, now()))
}

/// Refuses callers without one of `roles`: anonymous callers are asked to authenticate.
pub(crate) fn require(ctx: &Context<'_>, roles: &[Role]) -> async_graphql::Result<()> {
    let c = caller(ctx);
    match c.role() {
        None => Err(ApiError::Unauthenticated).gql(),
        Some(r) if roles.contains(&r) => Ok(()),
        Some(r) => Err(ApiError::Forbidden(role_name(r))).gql(),
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Citizen => "CITIZEN",
        Role::Hotline => "HOTLINE",
        Role::Officer => "OFFICER",
        Role::Leader => "LEADER",
        Role::Admin => "ADMIN",
    }
}
