//! The `dvc-gateway` binary: a shim over [`dvc_gateway::cli::run`].

/// mimalloc rather than the system allocator: a request allocates and frees many small objects across the
/// worker threads, where glibc's allocator spent an eighth of the gateway's time (see the README's benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    dvc_gateway::cli::run().await
}
