//! What a newcomer reads runs: every GraphQL example of the README, and every `curl` request it shows, is run
//! literally against the default demo data, loaded exactly as `serve --demo` loads it.
//!
//! How the README marks what an example needs (the README says the same to its readers):
//! - a comment line `# as ROLE of unit CODE`, or `# as CITIZEN IDENTITY-NUMBER`, names the caller of a
//!   ```graphql block (no such line: no token);
//! - a ```json block right after it (a line of prose may stand between) holds the example's variables, or,
//!   when it has a `data` key, the answer it gives: the answer must then hold everything that block shows;
//! - a block may hold several operations, run one after the other, in the README's order (mutations
//!   included).
//!
//! Every example must answer without errors, and with no top-level field null or empty.

use std::time::Duration;

use dvc_gateway::app::App;
use dvc_gateway::auth::{Caller, Role};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::*;

const README: &str = include_str!("../../README.md");

/// A fenced block of the README.
struct Block {
    lang: String,
    /// The line of its opening fence, counted from 1.
    line: usize,
    text: String,
    /// The non-blank lines of prose between the previous block and this one.
    prose_before: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut prose = 0;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_owned(),
                    line: i + 1,
                    text: String::new(),
                    prose_before: prose,
                })
            }
            (None, None) => prose += usize::from(!line.trim().is_empty()),
            (Some(_), Some(_)) => {
                out.extend(open.take());
                prose = 0;
            }
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
        }
    }
    assert!(open.is_none(), "README.md has a fence that is never closed");
    out
}

/// One example as the README states it.
struct Example {
    line: usize,
    caller: Option<(Role, String)>,
    operations: Vec<String>,
    variables: Value,
    answer: Option<Value>,
}

fn examples(markdown: &str) -> Vec<Example> {
    let blocks = blocks(markdown);
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.lang != "graphql" {
            continue;
        }
        let mut variables = json!({});
        let mut answer = None;
        if let Some(next) = blocks.get(i + 1)
            && next.lang == "json"
            && next.prose_before <= 1
        {
            let v: Value = serde_json::from_str(&next.text).unwrap_or_else(|e| {
                panic!("README.md line {}: the json block does not parse: {e}", next.line)
            });
            if v.get("data").is_some() { answer = Some(v) } else { variables = v }
        }
        out.push(Example {
            line: b.line,
            caller: caller(&b.text, b.line),
            operations: operations(&b.text),
            variables,
            answer,
        });
    }
    out
}

/// The caller a block's `# as …` line names.
fn caller(text: &str, line: usize) -> Option<(Role, String)> {
    let spec = text.lines().find_map(|l| l.trim().strip_prefix("# as "))?;
    let words: Vec<&str> = spec.split_whitespace().collect();
    let role: Role = words
        .first()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("README.md line {line}: `# as {spec}` names no role"));
    let rest = if role == Role::Citizen {
        words.iter().find(|w| w.chars().all(|c| c.is_ascii_digit()))
    } else {
        words.iter().skip_while(|w| **w != "unit").nth(1)
    };
    let rest = rest
        .unwrap_or_else(|| panic!("README.md line {line}: `# as {spec}` lacks a unit or identity number"));
    Some((role, rest.trim_end_matches(['.', ',', ')']).to_owned()))
}

/// The top-level operations of a block (comments dropped), each with the block's fragments.
fn operations(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0u32;
    let mut in_string = false;
    for line in text.lines() {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                current.push(c);
                match c {
                    '\\' => current.extend(chars.next()),
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '#' => break,
                '"' => in_string = true,
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            current.push(c);
            if c == '}' && depth == 0 {
                parts.push(std::mem::take(&mut current).trim().to_owned());
            }
        }
        current.push('\n');
    }
    assert!(current.trim().is_empty() && depth == 0, "an operation is not closed: {current}");
    let (fragments, ops): (Vec<String>, Vec<String>) =
        parts.into_iter().partition(|p| p.starts_with("fragment"));
    ops.into_iter()
        .map(|op| [op].into_iter().chain(fragments.iter().cloned()).collect::<Vec<_>>().join("\n"))
        .collect()
}

/// Whether `actual` holds everything `expected` shows (objects: the keys shown; lists: the same length).
fn holds(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|x| holds(x, v))),
        (Value::Array(a), Value::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(x, v)| holds(x, v)),
        _ => actual == expected,
    }
}

/// Why an answer would puzzle a newcomer: errors, or a top-level field that is null or empty.
fn puzzling(answer: &Value) -> Option<String> {
    if answer.get("errors").is_some_and(|e| !e.as_array().is_some_and(Vec::is_empty)) {
        return Some(format!("errors: {}", answer["errors"]));
    }
    let Some(data) = answer["data"].as_object() else { return Some("no data".into()) };
    for (field, v) in data {
        let empty = v.is_null()
            || v.as_array().is_some_and(Vec::is_empty)
            || v.get("edges").and_then(Value::as_array).is_some_and(Vec::is_empty);
        if empty {
            return Some(format!("`{field}` is {v}"));
        }
    }
    None
}

async fn caller_of(app: &App, who: &Option<(Role, String)>) -> Caller {
    let Some((role, id)) = who else { return Caller::Anonymous };
    let t = match role {
        Role::Citizen => token(*role, None, id),
        _ => token(*role, Some(id), &format!("readme-{role:?}").to_lowercase()),
    };
    match app.authenticate(Some(&format!("Bearer {t}"))).await {
        Ok(v) => v.caller,
        Err(_) => panic!("the README's caller {role:?} {id} is refused"),
    }
}

/// Runs one operation in process; a subscription answers with its first event.
async fn run_one(app: &App, caller: Caller, query: &str, variables: &Value) -> Value {
    let schema = schema(app);
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables.clone()))
        .data(caller)
        .data(dvc_gateway::graphql::Loaders::new(&app.db));
    if query.trim_start().starts_with("subscription") {
        let mut stream = schema.execute_stream(request);
        let first = tokio::time::timeout(Duration::from_secs(60), stream.next()).await;
        let first = first.expect("the subscription answers within a minute").expect("an event");
        serde_json::to_value(first).unwrap()
    } else {
        serde_json::to_value(schema.execute(request).await).unwrap()
    }
}

/// The `curl` requests of the README's shell blocks, each with the token it sends: (line, role, unit, sub,
/// body). A `TOKEN=$(… token --role R --unit U --sub S)` line sets the token of the requests after it.
type CurlRequest = (usize, Option<(Role, Option<String>, String)>, Value);

fn curl_requests(markdown: &str) -> Vec<CurlRequest> {
    let mut token = None;
    let mut out = Vec::new();
    for b in blocks(markdown).into_iter().filter(|b| b.lang == "sh") {
        let joined = b.text.replace("\\\n", " ");
        for line in joined.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |flag: &str| words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1));
            if words.contains(&"token") && line.contains("TOKEN=") {
                let role: Role = after("--role").and_then(|r| r.parse().ok()).expect("a role");
                let sub = after("--sub").expect("a sub").trim_end_matches(')').to_owned();
                token = Some((role, after("--unit").map(|u| u.to_string()), sub));
            }
            if words.first() == Some(&"curl") {
                let body =
                    line.split("-d '").nth(1).and_then(|r| r.split('\'').next()).expect("a -d '…' body");
                let body: Value = serde_json::from_str(body).expect("the body is JSON");
                let sends_token = line.contains("$TOKEN");
                out.push((b.line, if sends_token { token.clone() } else { None }, body));
            }
        }
    }
    out
}

#[actix_web::test]
async fn every_readme_example_runs_against_the_demo() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db);
    dvc_gateway::cli::load_demo(&app, demo::DEFAULT_SCALE).await.expect("the demo loads");

    let examples = examples(README);
    assert!(examples.len() >= 8, "the README's examples were not found ({} of them)", examples.len());
    let (mut citizen, mut ran, mut answers) = (false, 0, 0);
    for ex in &examples {
        citizen |= ex.caller.as_ref().is_some_and(|c| c.0 == Role::Citizen);
        let caller = caller_of(&app, &ex.caller).await;
        assert!(!ex.operations.is_empty(), "README.md line {}: no operation", ex.line);
        for op in &ex.operations {
            ran += 1;
            let answer = run_one(&app, caller.clone(), op, &ex.variables).await;
            if let Some(why) = puzzling(&answer) {
                panic!("README.md line {}: {op}\nanswers {why}:\n{answer:#}", ex.line);
            }
            if let Some(expected) = &ex.answer {
                answers += 1;
                assert!(
                    holds(&answer, expected),
                    "README.md line {}: the README shows\n{expected:#}\nbut the answer is\n{answer:#}",
                    ex.line
                );
            }
        }
    }
    assert!(citizen, "the README has an example as a CITIZEN");
    assert!(ran >= 15 && answers >= 2, "{ran} operations run, {answers} answers compared");

    // The shell examples, over HTTP, with the tokens the README prints.
    let base = serve(app.clone()).await;
    let http = reqwest::Client::new();
    let requests = curl_requests(README);
    assert!(requests.len() >= 3, "the README's curl examples were not found");
    for (line, who, body) in requests {
        let mut r = http.post(format!("{base}/graphql")).json(&body);
        if let Some((role, unit, sub)) = who {
            r = r.bearer_auth(token(role, unit.as_deref(), &sub));
        }
        let answer: Value = r.send().await.unwrap().json().await.unwrap();
        if let Some(why) = puzzling(&answer) {
            panic!("README.md line {line}: {body}\nanswers {why}:\n{answer:#}");
        }
    }
}

#[test]
fn the_readme_marks_are_read_as_documented() {
    let md = "Text.\n\n```graphql\n# as OFFICER of unit 49\n{ a }\n{ b(x: \"}\") }\n```\nIt answers:\n```json\n{\"data\": {\"a\": 1}}\n```\n\n```graphql\n# as CITIZEN 049090001234\nquery Q($c: String!) { d(code: $c) { e } }\n```\n```json\n{\"c\": \"X\"}\n```\n";
    let ex = examples(md);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].caller, Some((Role::Officer, "49".to_owned())));
    assert_eq!(ex[0].operations, vec!["{ a }", "{ b(x: \"}\") }"]);
    assert_eq!(ex[0].answer, Some(json!({"data": {"a": 1}})));
    assert_eq!(ex[1].caller, Some((Role::Citizen, "049090001234".to_owned())));
    assert_eq!(ex[1].variables, json!({"c": "X"}));
    assert!(holds(&json!({"a": 1, "b": [1, 2]}), &json!({"b": [1, 2]})));
    assert!(!holds(&json!({"a": 1}), &json!({"a": 2})));
}
