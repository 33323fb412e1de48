//! The module graph runs one way: the layer list in `docs/architecture.md` (the fenced block
//! marked `layers`, highest layer first) is the rule, and this test reads `src/` and fails when
//! a top-level module of the engine imports a module on its own line or on a line above it.
//! Every top-level module must be on exactly one line. Comments are not imports.
//!
//! Inside `server/`, the request handlers (the modules the dispatcher in `connection.rs` calls)
//! import nothing of their siblings but `context`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer list: module name → its layer (0 = lowest).
fn layers(architecture: &str) -> BTreeMap<String, usize> {
    let block = architecture
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/architecture.md has a ```layers block");
    let lines: Vec<&str> = block.lines().filter(|line| !line.trim().is_empty()).collect();
    let mut layer_of = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        let layer = lines.len() - 1 - index;
        let modules = line.split_once(':').map_or(*line, |(_, modules)| modules);
        for module in modules.split_whitespace() {
            let previous = layer_of.insert(module.to_string(), layer);
            assert!(previous.is_none(), "`{module}` is listed twice in the layer list");
        }
    }
    layer_of
}

/// The top-level modules `src/lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').trim().to_string())
        })
        .collect()
}

/// Every `.rs` file of a top-level module (`src/name.rs` or everything under `src/name/`).
fn module_files(src: &Path, module: &str) -> Vec<PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut files = Vec::new();
    let mut folders = vec![src.join(module)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|err| panic!("{}: {err}", folder.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no source for module `{module}`");
    files
}

/// Source text without comments (line comments, doc comments and block comments).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut block_depth) = (false, 0usize);
    while let Some(c) = chars.next() {
        if block_depth > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block_depth -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                block_depth += 1;
            }
            continue;
        }
        if in_string {
            out.push(c);
            if c == '\\' {
                out.extend(chars.next());
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                block_depth = 1;
            }
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The top-level modules a piece of source names through `crate::`, including grouped
/// imports (`use crate::{a, b::c}`).
fn crate_references(code: &str) -> BTreeSet<String> {
    let ident = |text: &str| -> String { text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `iptincan_crate::`, not this crate
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (offset, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        found.insert(ident(&group[offset..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

#[test]
fn modules_import_only_from_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let layer_of = layers(&architecture);
    let src = root.join("src");
    let declared = declared_modules(&std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs"));

    let listed: BTreeSet<String> = layer_of.keys().cloned().collect();
    assert_eq!(declared, listed, "src/lib.rs's modules and docs/architecture.md's layer list differ");

    let mut violations = Vec::new();
    for module in &declared {
        for file in module_files(&src, module) {
            let code = without_comments(&std::fs::read_to_string(&file).expect("source file"));
            for used in crate_references(&code) {
                if used == *module || !layer_of.contains_key(&used) {
                    continue;
                }
                if layer_of[&used] >= layer_of[module] {
                    violations.push(format!(
                        "{}: `{module}` (layer {}) imports `{used}` (layer {})",
                        file.strip_prefix(root).unwrap_or(&file).display(),
                        layer_of[module],
                        layer_of[&used]
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layer rule:\n{}", violations.join("\n"));
}

/// The request handlers: the sibling modules the dispatcher (`server/connection.rs`) calls,
/// as its `use super::{…}` names them (the context aside).
fn handler_modules(connection: &str) -> Vec<String> {
    let group = connection
        .split("use super::{")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("connection.rs imports its handlers with `use super::{…}`");
    group.split(',').map(|name| name.trim().to_string()).filter(|name| !name.is_empty() && name != "context").collect()
}

#[test]
fn server_handlers_import_only_the_context() {
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let connection = std::fs::read_to_string(server.join("connection.rs")).expect("src/server/connection.rs");
    let handlers = handler_modules(&without_comments(&connection));
    assert!(handlers.len() >= 5, "the dispatcher names its handlers: {handlers:?}");
    let mut violations = Vec::new();
    for handler in &handlers {
        let path = server.join(format!("{handler}.rs"));
        let code = without_comments(&std::fs::read_to_string(&path).expect("handler source"));
        for (at, _) in code.match_indices("super::") {
            let sibling: String = code[at + "super::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*')
                .collect();
            if sibling != "context" && sibling != "*" {
                violations.push(format!("src/server/{handler}.rs: imports `super::{sibling}`"));
            }
        }
    }
    assert!(violations.is_empty(), "handlers must import only `super::context`:\n{}", violations.join("\n"));
}

#[test]
fn the_checker_sees_grouped_imports_and_ignores_comments() {
    let code = without_comments(
        "use crate::{proto::{A, B}, store};\n// crate::server in a comment\n/* crate::rest */ let s = \"//\"; crate::tls::x();",
    );
    let expected: BTreeSet<String> = ["proto", "store", "tls"].iter().map(|name| name.to_string()).collect();
    assert_eq!(crate_references(&code), expected);
    let list = "```layers\ntop: a b\nbottom: c\n```\n";
    let layer_of = layers(list);
    assert_eq!((layer_of["a"], layer_of["b"], layer_of["c"]), (1, 1, 0));
}
