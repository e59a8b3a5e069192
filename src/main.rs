//! The `periop` command line: parses arguments and hands over to [`periop::cli::run`].

use clap::Parser;

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
