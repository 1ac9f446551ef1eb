//! The `dvc-gateway` binary: a shim over [`dvc_gateway::cli::run`].

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    dvc_gateway::cli::run().await
}
