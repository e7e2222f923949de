//! The config-file directives that are not parameters: `rename-command`, `user`,
//! `loadmodule`, module parameters (`<module>.<name> <value>`) and `sentinel`. Each is checked
//! as redis-server 7.0.15 checks it, with its messages, and recorded in the [`Config`];
//! docs/config.md says what Tessera does with them.
//!
//! Checking `rename-command` and ACL rules needs Redis's command table: its names, as
//! `COMMAND LIST` gives them (subcommands as `container|sub`), are in `redis-commands.txt`.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::resp::split::{is_c_space, split_args};
use crate::types::sha256::sha256_hex;

use super::*;

/// Redis 7.0.15's command names, lowercase: top-level ones and `container|sub` ones.
fn redis_commands() -> &'static HashSet<&'static str> {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| include_str!("redis-commands.txt").lines().collect())
}

/// Redis's `lookupCommandBySds` over its original command table: `name` or `container|sub`
/// (case-insensitive). Returns whether it is found and whether it is a subcommand.
fn lookup_command(name: &[u8]) -> Option<bool> {
    let name = String::from_utf8(name.to_ascii_lowercase()).ok()?;
    let parts: Vec<&str> = name.split('|').collect();
    let commands = redis_commands();
    match parts[..] {
        [one] => commands.contains(one).then_some(false),
        [container, _] if is_container(container) => {
            commands.contains(name.as_str()).then_some(true)
        }
        // Redis looks names up strictly: `get|x` is no command at all.
        _ => None,
    }
}

fn is_container(name: &str) -> bool {
    let prefix = format!("{name}|");
    redis_commands().iter().any(|c| c.starts_with(&prefix))
}

/// The ACL command categories of Redis 7.0 (`+@<category>`, `-@<category>`).
const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The file-only directives met so far, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Directives {
    /// `rename-command <from> <to>`; an empty `to` removes the command.
    pub(crate) renamed_commands: Vec<(Vec<u8>, Vec<u8>)>,
    /// `user <name> <rules...>`: the name, then the rules with `(selector ...)` merged.
    pub(crate) users: Vec<Vec<Vec<u8>>>,
    /// `loadmodule <path> <args...>`.
    pub(crate) modules: Vec<Vec<Vec<u8>>>,
    /// `<module>.<name> <value...>`, the values joined with spaces; a later line replaces.
    pub(crate) module_configs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The command table as `rename-command` has left it (lowercase); built on first use.
    pub(crate) commands: Option<HashSet<Vec<u8>>>,
}

impl Directives {
    /// `rename-command <from> <to>`, with Redis's checks against the table as renamed so far.
    pub(crate) fn rename_command(&mut self, from: &[u8], to: &[u8]) -> Result<(), String> {
        let commands = self.commands.get_or_insert_with(|| {
            redis_commands()
                .iter()
                .filter(|c| !c.contains('|'))
                .map(|c| c.as_bytes().to_vec())
                .collect()
        });
        // Redis finds a subcommand here too, then fails an assertion removing it from the
        // table of top-level commands; a subcommand is simply not renamable.
        if !commands.remove(&from.to_ascii_lowercase()) {
            return Err("No such command in rename-command".into());
        }
        if !to.is_empty() && !commands.insert(to.to_ascii_lowercase()) {
            return Err("Target command name already exists".into());
        }
        self.renamed_commands.push((from.to_vec(), to.to_vec()));
        Ok(())
    }

    /// `user <name> <rules...>` (`argv` without the directive), checked as Redis checks it
    /// while reading the file: on a fake user, where an unknown command or category is not an
    /// error yet (see [`Directives::check_users_at_startup`]).
    /// `pubsub_allchannels`: whether `acl-pubsub-default` is `allchannels` so far.
    pub(crate) fn add_user(
        &mut self,
        argv: &[Vec<u8>],
        pubsub_allchannels: bool,
    ) -> Result<(), String> {
        // Redis names the argument by an index into the merged rules but reads it from the
        // whole line ("user" is 0, the name 1): its messages often quote the wrong word.
        let declaration_error = |index: usize, why: &str| {
            let word = match index {
                0 => &b"user"[..],
                i => &argv[i - 1],
            };
            format!(
                "Error in user declaration '{}': {why}",
                String::from_utf8_lossy(word)
            )
        };
        let name = &argv[0];
        if self.users.iter().any(|u| u[0] == *name) {
            return Err(declaration_error(1, AclError::Duplicate.message()));
        }
        let rules = merge_selectors(&argv[1..]).map_err(|open| {
            // Redis leaves errno as it was; in practice it reads as an unknown name.
            declaration_error(open, AclError::NoEnt.message())
        })?;
        let mut user = AclUser::new(pubsub_allchannels);
        for (j, rule) in rules.iter().enumerate() {
            match user.apply(rule) {
                Ok(()) | Err(AclError::NoEnt) => {}
                Err(e) => return Err(declaration_error(j, e.message())),
            }
        }
        let mut line = vec![name.clone()];
        line.extend(rules);
        self.users.push(line);
        Ok(())
    }

    /// What Redis checks once the whole configuration is read, when it creates the users for
    /// real: names without spaces, and rules naming only commands and categories it knows.
    pub(crate) fn check_users_at_startup(&self, pubsub_allchannels: bool) -> Result<(), String> {
        let critical = "Critical error while loading ACLs. Exiting.";
        for line in &self.users {
            let (name, rules) = line.split_first().expect("a user line has a name");
            if has_spaces(name) {
                return Err(format!("Spaces not allowed in ACL usernames\n{critical}"));
            }
            let mut user = AclUser::new(pubsub_allchannels);
            for rule in rules {
                if let Err(e) = user.apply(rule) {
                    return Err(format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}\n{critical}",
                        String::from_utf8_lossy(rule),
                        String::from_utf8_lossy(name),
                        e.message()
                    ));
                }
            }
        }
        Ok(())
    }

    /// `<module>.<name> <values...>` (the name already lowercase).
    pub(crate) fn add_module_config(
        &mut self,
        name: &[u8],
        args: &[Vec<u8>],
    ) -> Result<(), String> {
        if args.is_empty() {
            return Err("Module config specified without value".into());
        }
        let value = args.join(&b' ');
        match self.module_configs.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.module_configs.push((name.to_vec(), value)),
        }
        Ok(())
    }

    /// Where Redis's start-up would stop for modules: Tessera cannot load any, and a module
    /// parameter is then one no module takes.
    pub(crate) fn check_modules_at_startup(&self) -> Result<(), String> {
        if let Some(module) = self.modules.first() {
            let path = String::from_utf8_lossy(&module[0]);
            return Err(format!(
                "Module {path} failed to load: Tessera cannot load Redis modules\n\
                 Can't load module from {path}: server aborting"
            ));
        }
        if !self.module_configs.is_empty() {
            return Err(
                "Module Configuration detected without loadmodule directive or no \
                        ApplyConfig call: aborting"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Whether new ACL users start with every channel (`acl-pubsub-default allchannels`).
pub(crate) fn pubsub_allchannels(config: &Config) -> bool {
    config.word_name(Param::AclPubsubDefault) == "allchannels"
}

/// Redis's `ACLStringHasSpaces`: whitespace or a NUL byte.
fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| is_c_space(b) || b == 0)
}

/// Joins the words of a `(selector ...)` spread over several arguments into one rule, as
/// Redis's `ACLMergeSelectorArguments`; on a selector never closed, the index of the argument
/// that opened it.
fn merge_selectors(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut rules = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            // Even inside an open selector: Redis starts over from here.
            open = Some((j, op.clone()));
        } else if let Some((_, selector)) = &mut open {
            selector.push(b' ');
            selector.extend_from_slice(op);
            if op.last() == Some(&b')') {
                rules.push(open.take().expect("a selector is open").1);
            }
        } else {
            rules.push(op.clone());
        }
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(rules),
    }
}

/// Why Redis refuses an ACL rule (its `errno` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AclError {
    /// ENOENT.
    NoEnt,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    KeyAfterAll,
    /// EISDIR.
    ChannelAfterAll,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
    /// ECHILD.
    SubcommandFirstArg,
    /// EALREADY.
    Duplicate,
}

impl AclError {
    /// Redis's `ACLSetUserStringError`.
    fn message(self) -> &'static str {
        match self {
            AclError::NoEnt => "Unknown command or category name in ACL",
            AclError::Syntax => "Syntax error",
            AclError::KeyAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            AclError::ChannelAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            AclError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            AclError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            AclError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
            AclError::Duplicate => {
                "Duplicate user found. A user can only be defined once in config files"
            }
        }
    }
}

/// What of an ACL user decides whether a later rule is refused: its password hashes, and
/// whether its root selector allows all keys or all channels.
struct AclUser {
    passwords: Vec<String>,
    root: Selector,
    pubsub_allchannels: bool,
}

#[derive(Clone, Copy)]
struct Selector {
    allkeys: bool,
    allchannels: bool,
}

impl AclUser {
    fn new(pubsub_allchannels: bool) -> AclUser {
        AclUser {
            passwords: Vec::new(),
            root: Selector::new(pubsub_allchannels),
            pubsub_allchannels,
        }
    }

    /// One rule, as Redis's `ACLSetUser`.
    fn apply(&mut self, op: &[u8]) -> Result<(), AclError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty()
            || is("on")
            || is("off")
            || is("skip-sanitize-payload")
            || is("sanitize-payload")
        {
            return Ok(());
        }
        if is("nopass") || is("resetpass") {
            self.passwords.clear();
            return Ok(());
        }
        if is("clearselectors") {
            return Ok(());
        }
        if is("reset") {
            self.passwords.clear();
            self.root = Selector::new(self.pubsub_allchannels);
            return Ok(());
        }
        let (first, rest) = (op[0], &op[1..]);
        match first {
            b'>' | b'#' | b'<' | b'!' => {
                let hash = if matches!(first, b'>' | b'<') {
                    sha256_hex(rest)
                } else if rest.len() == 64
                    && rest
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
                {
                    String::from_utf8(rest.to_vec()).expect("hex digits")
                } else {
                    return Err(AclError::BadHash);
                };
                if matches!(first, b'>' | b'#') {
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                } else {
                    let at = self.passwords.iter().position(|p| *p == hash);
                    self.passwords.remove(at.ok_or(AclError::NoSuchPassword)?);
                }
                Ok(())
            }
            b'(' if op.last() == Some(&b')') => {
                // A new selector, its words split with quoting rules (unbalanced quotes read
                // as no words at all, as in Redis).
                let inner = &op[1..op.len() - 1];
                let mut selector = Selector::new(self.pubsub_allchannels);
                for word in split_args(inner).unwrap_or_default() {
                    selector.apply(&word)?;
                }
                Ok(())
            }
            _ => self.root.apply(op),
        }
    }
}

impl Selector {
    fn new(pubsub_allchannels: bool) -> Selector {
        Selector {
            allkeys: false,
            allchannels: pubsub_allchannels,
        }
    }

    /// One selector rule, as Redis's `ACLSetSelector`.
    fn apply(&mut self, op: &[u8]) -> Result<(), AclError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || is("~*") {
            self.allkeys = true;
        } else if is("resetkeys") {
            self.allkeys = false;
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
        } else if is("resetchannels") {
            self.allchannels = false;
        } else if is("allcommands") || is("+@all") || is("nocommands") || is("-@all") {
        } else if op.first().is_some_and(|&c| c == b'~' || c == b'%') {
            if self.allkeys {
                return Err(AclError::KeyAfterAll);
            }
            let mut pattern = &op[1..];
            if op[0] == b'%' {
                let (mut read, mut write) = (false, false);
                loop {
                    match pattern.first().map(u8::to_ascii_uppercase) {
                        None => break,
                        Some(b'R') if !read => read = true,
                        Some(b'W') if !write => write = true,
                        Some(b'~') => {
                            pattern = &pattern[1..];
                            break;
                        }
                        Some(_) => return Err(AclError::Syntax),
                    }
                    pattern = &pattern[1..];
                }
                // Debian's 7.0.15 carries the fix for CVE-2024-31227: no R or W is an error.
                if !read && !write {
                    return Err(AclError::Syntax);
                }
            }
            if has_spaces(pattern) {
                return Err(AclError::Syntax);
            }
        } else if op.first() == Some(&b'&') {
            if self.allchannels {
                return Err(AclError::ChannelAfterAll);
            }
            if has_spaces(&op[1..]) {
                return Err(AclError::Syntax);
            }
        } else if op.len() > 1 && op[1] == b'@' && (op[0] == b'+' || op[0] == b'-') {
            let category = &op[2..];
            if !ACL_CATEGORIES
                .iter()
                .any(|c| c.as_bytes().eq_ignore_ascii_case(category))
            {
                return Err(AclError::NoEnt);
            }
        } else if op.first() == Some(&b'+') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    lookup_command(name).ok_or(AclError::NoEnt)?;
                }
                Some(bar) => {
                    let (command, sub) = (&name[..bar], &name[bar + 1..]);
                    let is_subcommand = lookup_command(command).ok_or(AclError::NoEnt)?;
                    if is_subcommand {
                        return Err(AclError::SubcommandFirstArg);
                    }
                    if sub.is_empty() {
                        return Err(AclError::Syntax);
                    }
                    // A real subcommand must exist; for other commands `cmd|arg` allows a
                    // first argument, which Redis accepts with a deprecation warning.
                    let container = String::from_utf8_lossy(command).to_ascii_lowercase();
                    if is_container(&container) {
                        lookup_command(name).ok_or(AclError::NoEnt)?;
                    }
                }
            }
        } else if op.first() == Some(&b'-') {
            lookup_command(&op[1..]).ok_or(AclError::NoEnt)?;
        } else {
            return Err(AclError::Syntax);
        }
        Ok(())
    }
}
