//! The command line: redis-server's rules for `[config-file] [--name value ...] [-]`, `--help`, `--version`.

use std::fmt::Write as _;
use std::io::{self, Read};

use crate::resp::split::split_args;

use super::*;
use crate::resp::split::push_repr;

/// What the command line asks for.
#[derive(Debug)]
pub enum Startup {
    /// Run a server with this configuration.
    Run(Config),
    /// `-h` / `--help`: print this and exit successfully.
    Help(String),
    /// `-v` / `--version`: print this and exit successfully.
    Version(String),
}

/// Builds the configuration from the process arguments (program name first, as
/// `std::env::args()` yields them), with redis-server's exact command-line rules. Prints the
/// help or version text and exits for `--help` / `--version`. On error, returns the message to
/// print on stderr before exiting with status 1.
pub fn load(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    match parse_command_line(args, &mut io::stdin().lock())? {
        Startup::Run(config) => Ok(config),
        Startup::Help(text) => {
            print!("{text}");
            std::process::exit(0)
        }
        Startup::Version(text) => {
            println!("{text}");
            std::process::exit(0)
        }
    }
}

/// [`load`] without the side effects on the process: `stdin` is read only when the command
/// line contains a lone `-`.
pub fn parse_command_line(
    args: impl IntoIterator<Item = String>,
    stdin: &mut dyn Read,
) -> Result<Startup, String> {
    let argv: Vec<String> = args.into_iter().collect();
    let program = argv.first().map_or("tessera-server", String::as_str);
    let mut loader = Loader {
        config: Config::default(),
        save_seen: false,
    };
    if argv.len() < 2 {
        // Like redis-server without arguments: defaults, no config parsing at all.
        loader.finish()?;
        return Ok(Startup::Run(loader.config));
    }
    match argv[1].as_str() {
        "-v" | "--version" => return Ok(Startup::Version(version())),
        "-h" | "--help" => return Ok(Startup::Help(usage(program))),
        _ => {}
    }

    // Redis turns into Sentinel when any argument is `--sentinel`; Tessera has no Sentinel.
    if argv[1..].iter().any(|a| a == "--sentinel") {
        return Err("Tessera has no Sentinel mode: run redis-sentinel to monitor it".into());
    }

    // The first argument is a config file unless it looks like an option.
    let mut j = 1;
    let mut config_file = None;
    if !argv[1].starts_with('-') {
        config_file = Some(absolute(&argv[1]));
        j = 2;
    }

    // Turn the options into config lines, exactly as redis-server's main() does: `--name`
    // starts a new line, every following argument is appended as a quoted value. A name given
    // with no value yet (`handled_last` false) swallows the next argument as its value even
    // if that starts with `--`, so a bare `--appendonly` is an error, not "yes". `--save`
    // alone (last, or followed by another option) means `save ""`.
    let mut options = Vec::new();
    let mut from_stdin = false;
    let mut handled_last = true;
    let last = argv.len() - 1;
    while j <= last {
        let arg = &argv[j];
        if arg == "-" && (j == 1 || j == last) {
            from_stdin = true;
        } else if handled_last && arg.starts_with("--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg.as_bytes()[2..]);
            options.push(b' ');
            // "--port 7000" passed as a single argument already carries its value.
            if split_args(arg.as_bytes()).is_some_and(|words| words.len() == 1) {
                handled_last = false;
                if arg.eq_ignore_ascii_case("--save")
                    && (j == last || argv[j + 1].starts_with("--"))
                {
                    options.extend_from_slice(b"\"\"");
                    handled_last = j != last;
                }
            } else {
                handled_last = true;
            }
        } else {
            push_repr(&mut options, arg.as_bytes());
            options.push(b' ');
            handled_last = true;
        }
        j += 1;
    }

    // Everything is then parsed as one text: the file, stdin, a newline, the options. Line
    // numbers in errors therefore count across all three, as in Redis.
    let mut text = Vec::new();
    if let Some(path) = &config_file {
        text = read_config_source(&path.to_string_lossy())?;
    }
    if from_stdin {
        stdin
            .read_to_end(&mut text)
            .map_err(|e| format!("Error reading config from stdin: {}", strerror(&e)))?;
    }
    text.push(b'\n');
    text.extend_from_slice(&options);

    // Known before the lines are read: `proc-title-template` may name `{config-file}`.
    loader.config.config_file = config_file;
    loader.apply_text(&text, None, 0)?;
    loader.finish()?;
    Ok(Startup::Run(loader.config))
}

pub(crate) fn version() -> String {
    format!(
        "Tessera server v={} bits={} (Redis 7.0 compatible)",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

pub(crate) fn usage(program: &str) -> String {
    let mut text = format!(
        "Usage: {p} [/path/to/redis.conf] [options] [-]\n       \
         {p} - (read config from stdin)\n       \
         {p} -v or --version\n       \
         {p} -h or --help\n\n\
         Examples:\n       \
         {p} (run the server with default conf)\n       \
         echo 'maxmemory 128mb' | {p} -\n       \
         {p} /etc/redis/6379.conf\n       \
         {p} --port 7777\n       \
         {p} --port 7777 --threads 4\n       \
         {p} /etc/myredis.conf --loglevel verbose -\n\n\
         Options are redis.conf directives written as --name value [value ...]; they are\n\
         applied after the config file and stdin. Every Redis 7.0 parameter is accepted;\n\
         those marked \"not applied\" are validated and stored but have no effect yet\n\
         (docs/config.md says why). Parameters and defaults:\n",
        p = program
    );
    for def in TABLE.iter().filter(|def| !def.has(HIDDEN)) {
        let default = match def.default {
            Text("") => "\"\"".to_owned(),
            Text(t) => t.to_owned(),
            Cores => "number of CPUs".to_owned(),
            Cwd => "working directory".to_owned(),
        };
        let mut notes = Vec::new();
        if !def.aliases.is_empty() {
            notes.push(format!("alias {}", def.aliases.join(", ")));
        }
        if def.has(IMMUTABLE) {
            notes.push("startup only".to_owned());
        }
        if let Effect::NotApplicable(_) = def.effect {
            notes.push("not applied".to_owned());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        let _ = writeln!(text, "  {:<28} {default}{notes}", def.name);
    }
    text
}
