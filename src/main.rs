//! The `gocker-script` command: the REPL, the script runner, `-e`, and Docker-like verbs.

mod repl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gocker::script::{self, Context};
use gocker::store::Paths;
use rhai::{Dynamic, Engine, EvalAltResult, Scope};

/// The verbs, for telling `gocker-script pull x` from `gocker-script script.rhai`.
const VERBS: &[&str] = &["pull", "images", "rmi", "tag", "save", "load"];

#[derive(Parser)]
#[command(
    name = "gocker-script",
    version,
    about = "A scriptable container host: Linux containers as values in the Rhai language"
)]
#[command(
    after_help = "Docker-like verbs: gocker-script pull|images|rmi|tag|save|load ... (each has --help)\nWith no FILE and no -e: the REPL."
)]
struct Cli {
    /// State directory (default $GOCKER_ROOT or /var/lib/gocker-script)
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the system-level steps each primitive takes
    #[arg(long, global = true)]
    trace: bool,
    /// Evaluate CODE and print its value
    #[arg(short = 'e', value_name = "CODE")]
    eval: Option<String>,
    /// A script to run; ARGS are available to it as the array ARGS
    file: Option<PathBuf>,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Parser)]
#[command(name = "gocker-script", version)]
struct VerbCli {
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    verb: Verb,
}

/// Whether the first word after the global options is a verb.
fn verb_requested() -> bool {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => {
                args.next();
            }
            "--trace" => {}
            a if a.starts_with("--root=") => {}
            a => return VERBS.contains(&a),
        }
    }
    false
}

#[derive(Subcommand)]
enum Verb {
    /// Pull an image from a registry
    Pull {
        reference: String,
        #[arg(long)]
        platform: Option<String>,
        #[arg(short, long)]
        quiet: bool,
    },
    /// List images
    Images {
        #[arg(long)]
        json: bool,
    },
    /// Remove images
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Write an image to a tarball (.tar) or an OCI layout directory
    Save {
        image: String,
        #[arg(short, long)]
        output: String,
    },
    /// Load images from a tarball or an OCI layout
    Load {
        #[arg(short, long)]
        input: String,
    },
}

fn engine_for(root: Option<PathBuf>, trace: bool) -> Engine {
    let paths = root.map(Paths::new).unwrap_or_else(Paths::from_env);
    gocker::trace::set(trace);
    script::build_engine(Context::new(paths))
}

/// The internal entry points the library re-executes this binary for: the container
/// supervisor and the exec helper. They run before anything else, single-threaded.
fn internal(args: &[String]) -> Option<ExitCode> {
    let code = match args.get(1).map(String::as_str) {
        Some("__shim") if args.len() == 5 => {
            gocker::trace::set(std::env::var_os("GOCKER_TRACE").is_some());
            gocker::container::shim::main(std::path::Path::new(&args[2]), &args[3], args[4] == "detach")
        }
        Some("__exec") if args.len() == 6 => {
            gocker::trace::set(std::env::var_os("GOCKER_TRACE").is_some());
            let pid: i32 = args[4].parse().unwrap_or(0);
            gocker::container::exec::helper_main(std::path::Path::new(&args[2]), &args[3], pid, &args[5])
        }
        _ => return None,
    };
    Some(ExitCode::from(code.clamp(0, 255) as u8))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = internal(&args) {
        return code;
    }
    if verb_requested() {
        let cli = VerbCli::parse();
        let engine = engine_for(cli.root, cli.trace);
        return run_verb(&engine, cli.verb);
    }
    let cli = Cli::parse();
    let engine = engine_for(cli.root, cli.trace);
    if let Some(code) = cli.eval {
        let mut scope = Scope::new();
        return match engine.eval_with_scope::<Dynamic>(&mut scope, &code) {
            Ok(v) => {
                if !v.is_unit() {
                    println!("{}", repl::pretty(&v));
                }
                ExitCode::SUCCESS
            }
            Err(e) => exit_for(&e, || repl::print_error(&code, "-e", &e)),
        };
    }
    if let Some(file) = cli.file {
        return run_file(&engine, &file, cli.args);
    }
    repl::run(&engine)
}

/// The exit status for a finished script error: `exit(n)` gives n; anything else prints and 1.
fn exit_for(e: &EvalAltResult, print: impl FnOnce()) -> ExitCode {
    if let EvalAltResult::ErrorTerminated(v, _) = e {
        return ExitCode::from(v.as_int().unwrap_or(0).clamp(0, 255) as u8);
    }
    print();
    ExitCode::from(1)
}

fn run_file(engine: &Engine, file: &std::path::Path, args: Vec<String>) -> ExitCode {
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let mut scope = Scope::new();
    scope.push_constant(
        "ARGS",
        args.into_iter().map(Dynamic::from).collect::<rhai::Array>(),
    );
    match engine.run_with_scope(&mut scope, &source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_for(&e, || {
            repl::print_error(&source, &file.display().to_string(), &e)
        }),
    }
}

fn run_verb(engine: &Engine, verb: Verb) -> ExitCode {
    let q = |s: &str| format!("{s:?}");
    let code = match verb {
        Verb::Pull { reference, platform, quiet } => {
            let mut opts = vec![format!("quiet: {quiet}")];
            if let Some(p) = platform {
                opts.push(format!("platform: {}", q(&p)));
            }
            format!("let i = pull({}, #{{ {} }}); print(i.digest); ()", q(&reference), opts.join(", "))
        }
        Verb::Images { json } => {
            if json {
                "print(to_json(images()))".to_string()
            } else {
                "images()".to_string()
            }
        }
        Verb::Rmi { images, force } => images
            .iter()
            .map(|i| format!("let r = rmi({}, #{{ force: {force} }}); for t in r.untagged {{ print(`Untagged: ${{t}}`) }} for d in r.deleted {{ print(`Deleted: ${{d}}`) }}", q(i)))
            .collect::<Vec<_>>()
            .join("\n"),
        Verb::Tag { source, target } => format!("tag({}, {}); ()", q(&source), q(&target)),
        Verb::Save { image, output } => format!("save({}, {})", q(&image), q(&output)),
        Verb::Load { input } => format!("for i in load({}) {{ print(`Loaded image: ${{i.name}}`) }}", q(&input)),
    };
    let mut scope = Scope::new();
    match engine.eval_with_scope::<Dynamic>(&mut scope, &code) {
        Ok(v) => {
            if !v.is_unit() {
                println!("{}", repl::pretty(&v));
            }
            ExitCode::SUCCESS
        }
        Err(e) => exit_for(&e, || eprintln!("error: {}", script::describe(&e))),
    }
}
