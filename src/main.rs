// The request path allocates many small, short-lived buffers on several threads; glibc's
// allocator took about 12% of the gateway's CPU in the latency benchmark (bench/), mimalloc
// takes a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tenantgate::cli::main()
}
