//! The GraphQL schema. It knows nothing about HTTP: the transport attaches the verified [`Caller`], where the
//! request comes from ([`RequestMeta`]) and a fresh [`Loaders`] set to each request. Resolvers parse their
//! arguments, call one function of the [`Service`] and map the result; every access decision is the service's.

pub mod audit;
pub mod cost;
pub mod enums;
pub mod error;
pub mod indicators;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod timeout;
pub mod types;

use async_graphql::{Context, MergedObject, Schema};

use crate::app::App;
use crate::auth::Caller;
use crate::service::{RequestMeta, Service};
pub use error::IntoGql;
pub use loaders::Loaders;

/// Root of every query.
#[derive(MergedObject, Default)]
pub struct Query(query::CoreQuery, indicators::IndicatorQuery, audit::AuditQuery);

/// The schema type.
pub type GatewaySchema = Schema<Query, mutation::Mutation, subscription::Subscription>;

/// Builds the schema with the request limits of the settings (and without introspection when it is off).
pub fn build_schema(app: App) -> GatewaySchema {
    build_schema_with(app, |b| b)
}

/// [`build_schema`], with `extend` adding to the builder first (an extension of the deployment's own).
pub fn build_schema_with(
    app: App,
    extend: impl FnOnce(
        async_graphql::SchemaBuilder<Query, mutation::Mutation, subscription::Subscription>,
    )
        -> async_graphql::SchemaBuilder<Query, mutation::Mutation, subscription::Subscription>,
) -> GatewaySchema {
    let limits = app.settings.limits;
    let introspection = app.settings.introspection;
    let builder = extend(Schema::build(Query::default(), mutation::Mutation, subscription::Subscription))
        .data(app)
        .extension(cost::Cost(limits))
        .extension(timeout::Timeout(limits.request_timeout))
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(20);
    if introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

/// Answers an introspection query from the schema's types alone, without the request limits: GraphiQL asks
/// for type references nested deeper than `MAX_QUERY_DEPTH` lets a client query go. Nothing but introspection
/// runs (no resolver, so no data is needed).
pub async fn introspect(query: &str) -> async_graphql::Response {
    Schema::build(Query::default(), mutation::Mutation, subscription::Subscription)
        .finish()
        .execute(async_graphql::Request::new(query).only_introspection())
        .await
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

static IN_PROCESS: RequestMeta = RequestMeta { client_addr: None, request_id: None, expires_at: None };

/// The service, as the request's caller.
pub(crate) fn service<'a>(ctx: &Context<'a>) -> Service<'a> {
    Service::new(app(ctx), caller(ctx), ctx.data_opt::<RequestMeta>().unwrap_or(&IN_PROCESS))
}
