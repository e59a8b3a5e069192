//! The `periop` command line: parses arguments and hands over to [`periop::cli::run`].

use clap::Parser;

// mimalloc instead of glibc malloc: a server answering thousands of JSON requests spends ~17 % of
// its CPU in glibc's malloc/free (perf, `benches/http.sh`); mimalloc is the maintained crate for it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = periop::cli::Cli::parse();
    match periop::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
