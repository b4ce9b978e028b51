// The compiler allocates many small strings and trees; mimalloc makes that markedly
// cheaper than the system allocator (as Ruff, whose parser lambada uses, also does).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lambada::cli::main()
}
