//! Fuzzing, in the one test binary: random and mutated import lines against the line parser, and random
//! well-typed operations built from the committed `schema.graphql`, under every role and with no token, against
//! a served gateway. Each runs for `FUZZ_SECONDS` (default 3) from `FUZZ_SEED` (default fixed, so that CI runs
//! the same cases every time; `scripts/fuzz.sh` runs longer with fresh seeds). A failure prints the seed and
//! the input; what a run found is kept below as regression cases.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::support::*;
use dvc_gateway::app::App;
use dvc_gateway::auth::Role;

fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(766)
}

// ---- import lines ------------------------------------------------------------------------------------------

const FRAGMENTS: [&str; 14] = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "1e999",
    "-0",
    "\"\\u0000\"",
    "\"code\": \"X\"",
    "\u{feff}",
    "\"type\"",
];

/// A sample line changed at random: bytes flipped, cut, fragments of JSON inserted, a field doubled.
fn mutate(rng: &mut StdRng, line: &str) -> Vec<u8> {
    let mut bytes = line.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=bytes.len());
        match rng.random_range(0..5) {
            0 if !bytes.is_empty() => {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            1 => bytes.truncate(at),
            2 => {
                let f = FRAGMENTS[rng.random_range(0..FRAGMENTS.len())];
                bytes.splice(at..at, f.bytes());
            }
            3 => {
                // A value of another type in place of a string or a number.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let replaced = text.replacen(": \"", ": [\"", 1).replacen(": 1", ": {\"x\": 1}", 1);
                bytes = replaced.into_bytes();
            }
            _ => bytes.extend_from_slice(b", \"code\": \"again\"}"),
        }
    }
    bytes
}

#[test]
fn the_line_parser_never_panics_on_mutated_lines() {
    let mut rng = StdRng::seed_from_u64(seed());
    let lines: Vec<&str> = SAMPLE.lines().collect();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < budget() {
        let pick = lines[rng.random_range(0..lines.len())];
        let line = mutate(&mut rng, pick);
        let outcome = std::panic::catch_unwind(|| dvc_gateway::interchange::validate::parse_line(&line, 1));
        assert!(
            outcome.is_ok(),
            "seed {}: parse_line panicked on {:?}",
            seed(),
            String::from_utf8_lossy(&line)
        );
        n += 1;
    }
    eprintln!("the line parser took {n} mutated lines");
}

// ---- GraphQL -----------------------------------------------------------------------------------------------

/// The committed schema, as what the generator needs.
struct Schema {
    objects: HashMap<String, Vec<Field>>,
    inputs: HashMap<String, Vec<(String, Type)>>,
    enums: HashMap<String, Vec<String>>,
}

struct Field {
    name: String,
    args: Vec<(String, Type)>,
    ty: Type,
}

impl Schema {
    fn load() -> Schema {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
        let doc = async_graphql::parser::parse_schema(text).unwrap();
        let mut s = Schema { objects: HashMap::new(), inputs: HashMap::new(), enums: HashMap::new() };
        for def in doc.definitions {
            let TypeSystemDefinition::Type(t) = def else { continue };
            let name = t.node.name.node.to_string();
            match t.node.kind {
                TypeKind::Object(o) => {
                    let fields = o
                        .fields
                        .into_iter()
                        .map(|f| Field {
                            name: f.node.name.node.to_string(),
                            args: f
                                .node
                                .arguments
                                .into_iter()
                                .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                                .collect(),
                            ty: f.node.ty.node,
                        })
                        .collect();
                    s.objects.insert(name, fields);
                }
                TypeKind::InputObject(i) => {
                    let fields = i
                        .fields
                        .into_iter()
                        .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                        .collect();
                    s.inputs.insert(name, fields);
                }
                TypeKind::Enum(e) => {
                    s.enums
                        .insert(name, e.values.into_iter().map(|v| v.node.value.node.to_string()).collect());
                }
                _ => {}
            }
        }
        s
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Codes that exist in the sample (so that operations find records) and strings that test the edges.
const STRINGS: [&str; 18] = [
    "49",
    "502",
    "20022",
    "8000",
    "VN",
    "48",
    "BTP",
    "2.004001",
    "000.00.20022-250514-00000",
    "000.00.8000-250322-00001",
    "DD",
    "HT",
    "QNA-24E",
    "%",
    "_",
    "",
    "Đăng ký",
    "x' OR '1'='1",
];

struct Generator<'a> {
    schema: &'a Schema,
    rng: StdRng,
}

impl Generator<'_> {
    fn value(&mut self, ty: &Type, depth: u32) -> String {
        if ty.nullable && self.rng.random_bool(0.2) {
            return "null".into();
        }
        match &ty.base {
            BaseType::List(inner) => {
                let n = self.rng.random_range(0..3);
                let items: Vec<String> = (0..n).map(|_| self.value(inner, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            BaseType::Named(n) => self.named_value(n.as_str(), depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: u32) -> String {
        let r = &mut self.rng;
        match name {
            "String" | "ID" => {
                let s = if r.random_bool(0.1) {
                    "ê".repeat(r.random_range(0..400))
                } else {
                    STRINGS[r.random_range(0..STRINGS.len())].to_owned()
                };
                serde_json::to_string(&s).unwrap()
            }
            "Int" => [0, 1, -1, 2, 20, 100, 101, i64::from(i32::MAX), i64::from(i32::MIN)]
                [r.random_range(0..9)]
            .to_string(),
            "Float" => ["0", "1.5", "-3", "1e300"][r.random_range(0..4)].to_owned(),
            "Boolean" => r.random_bool(0.5).to_string(),
            "Date" => {
                let d = [
                    "2024-01-01",
                    "2024-03-05",
                    "2024-05-01",
                    "2025-07-01",
                    "1999-12-31",
                    "2999-12-31",
                    "2024-02-30",
                ];
                format!("\"{}\"", d[r.random_range(0..d.len())])
            }
            "DateTime" => {
                let t = [
                    "2024-06-01T00:00:00+07:00",
                    "2024-12-31T23:59:59Z",
                    "2035-01-01T00:00:00+07:00",
                    "1970-01-01T00:00:00Z",
                ];
                format!("\"{}\"", t[r.random_range(0..t.len())])
            }
            other => {
                if let Some(values) = self.schema.enums.get(other) {
                    return values[self.rng.random_range(0..values.len())].clone();
                }
                let fields = self.schema.inputs.get(other).map(Vec::as_slice).unwrap_or_default();
                let mut parts = Vec::new();
                for (name, ty) in fields {
                    if (!ty.nullable || self.rng.random_bool(0.5)) && depth < 4 {
                        parts.push(format!("{name}: {}", self.value(ty, depth + 1)));
                    }
                }
                format!("{{{}}}", parts.join(", "))
            }
        }
    }

    fn args(&mut self, args: &[(String, Type)]) -> String {
        let mut parts = Vec::new();
        for (name, ty) in args {
            if !ty.nullable || self.rng.random_bool(0.5) {
                parts.push(format!("{name}: {}", self.value(ty, 0)));
            }
        }
        if parts.is_empty() { String::new() } else { format!("({})", parts.join(", ")) }
    }

    /// A selection of `type_name`: its `__typename`, the fields the scope check reads, and a few others.
    fn selection(&mut self, type_name: &str, depth: u32) -> String {
        let Some(fields) = self.schema.objects.get(type_name) else { return String::new() };
        let mut parts = vec!["__typename".to_owned()];
        match type_name {
            "Dossier" | "Feedback" => parts.push("code".into()),
            "Receipt" => parts.push("dossierCode".into()),
            _ => {}
        }
        let n = fields.len();
        for _ in 0..self.rng.random_range(1..5) {
            let f = &fields[self.rng.random_range(0..n)];
            let inner = named(&f.ty).to_owned();
            let nested = self.schema.objects.contains_key(&inner);
            if nested && depth >= 3 {
                continue;
            }
            let args = self.args(&f.args.clone());
            let alias = format!("f{}", parts.len());
            if nested {
                let sel = self.selection(&inner, depth + 1);
                parts.push(format!("{alias}: {}{args} {{ {sel} }}", f.name));
            } else {
                parts.push(format!("{alias}: {}{args}", f.name));
            }
        }
        parts.join(" ")
    }

    fn operation(&mut self) -> String {
        let (keyword, root) =
            if self.rng.random_bool(0.15) { ("mutation", "Mutation") } else { ("query", "Query") };
        let fields = &self.schema.objects[root];
        let f = &fields[self.rng.random_range(0..fields.len())];
        let (name, args, inner) = (f.name.clone(), f.args.clone(), named(&f.ty).to_owned());
        let args = self.args(&args);
        if self.schema.objects.contains_key(&inner) {
            let sel = self.selection(&inner, 1);
            format!("{keyword} {{ r: {name}{args} {{ {sel} }} }}")
        } else {
            format!("{keyword} {{ r: {name}{args} }}")
        }
    }
}

/// Who a fuzzed request is sent as.
#[derive(Clone, Debug)]
enum As {
    Nobody,
    Citizen(String),
    Staff(Role, String),
}

/// The scope check: every dossier, receipt and feedback in an answer is one the caller may read, by rules
/// written here again in SQL (not by the gateway's own code).
struct Oracle {
    app: App,
}

impl Oracle {
    async fn one(&self, sql: String) -> Option<(i64, i64, String)> {
        let backend = self.app.db.get_database_backend();
        let row = self.app.db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap()?;
        Some((
            row.try_get_by_index(0).unwrap(),
            row.try_get_by_index(1).unwrap(),
            row.try_get_by_index(2).unwrap(),
        ))
    }

    /// Whether `caller` may read dossier `code` (unit, announcing authority, applicant hash).
    async fn dossier(&self, caller: &As, code: &str) -> bool {
        let code = code.replace('\'', "''");
        let sql = format!(
            "SELECT d.unit_id, p.authority_id, d.applicant_id_hash FROM dossier d JOIN procedure p ON p.id = d.procedure_id WHERE d.code = '{code}'"
        );
        let Some((unit, authority, hash)) = self.one(sql).await else { return true };
        match caller {
            As::Nobody => false,
            As::Citizen(sub) => hash == self.app.vault.hash(sub),
            As::Staff(_, u) => {
                let tree = self.app.units().await.unwrap();
                let scope = tree.scope_at(u, dvc_gateway::domain::time::now());
                let ministry =
                    tree.get(u).is_some_and(|x| x.level == dvc_gateway::domain::UnitLevel::Ministry);
                scope.contains(unit) || (ministry && scope.contains(authority))
            }
        }
    }

    async fn feedback(&self, caller: &As, code: &str) -> bool {
        let code = code.replace('\'', "''");
        let sql = format!(
            "SELECT f.unit_id, f.id, COALESCE(d.code, '') FROM feedback f LEFT JOIN dossier d ON d.id = f.dossier_id WHERE f.code = '{code}'"
        );
        let Some((unit, _, dossier)) = self.one(sql).await else { return true };
        let by_dossier = !dossier.is_empty() && Box::pin(self.dossier(caller, &dossier)).await;
        match caller {
            As::Nobody => false,
            As::Citizen(_) => by_dossier,
            As::Staff(_, u) => {
                let tree = self.app.units().await.unwrap();
                tree.scope_at(u, dvc_gateway::domain::time::now()).contains(unit) || by_dossier
            }
        }
    }

    /// The first object in `v` outside the caller's scope.
    async fn outside(&self, caller: &As, v: &Value) -> Option<Value> {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) => {
                    let allowed = match m.get("__typename").and_then(Value::as_str) {
                        Some("Dossier") => match m.get("code").and_then(Value::as_str) {
                            Some(c) => self.dossier(caller, c).await,
                            None => true,
                        },
                        Some("Receipt") => match m.get("dossierCode").and_then(Value::as_str) {
                            Some(c) => self.dossier(caller, c).await,
                            None => true,
                        },
                        Some("Feedback") => match m.get("code").and_then(Value::as_str) {
                            Some(c) => self.feedback(caller, c).await,
                            None => true,
                        },
                        _ => true,
                    };
                    if !allowed {
                        return Some(v.clone());
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
        None
    }
}

#[tokio::test]
async fn random_operations_under_every_role_never_fail_the_server_or_cross_a_scope() {
    let db = TestDb::new(Backend::Sqlite).await;
    let no_limits = ["RATE_PUBLIC_PER_MINUTE", "RATE_AUTH_FAILURES_PER_MINUTE", "RATE_SUBJECT_PER_MINUTE"];
    let settings = dvc_gateway::config::Settings::from_lookup(|k| match k {
        "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
        "PII_KEY" => Some(TEST_PII_KEY.to_owned()),
        k if no_limits.contains(&k) => Some("0".to_owned()),
        _ => None,
    })
    .unwrap();
    let app = App::new(db.conn.clone(), settings).unwrap();
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app.clone()).await;
    let oracle = Oracle { app: app.clone() };
    // The applicant of the sample's first dossier, so that a citizen has records.
    let citizen = "702895171870".to_owned();
    let callers = [
        As::Nobody,
        As::Citizen(citizen),
        As::Staff(Role::Hotline, "49".into()),
        As::Staff(Role::Officer, "20022".into()),
        As::Staff(Role::Officer, "502".into()),
        As::Staff(Role::Leader, "49".into()),
        As::Staff(Role::Admin, "25".into()),
        As::Staff(Role::Admin, "VN".into()),
        As::Staff(Role::Officer, "BTP".into()),
    ];
    let schema = Schema::load();
    let mut g = Generator { schema: &schema, rng: StdRng::seed_from_u64(seed()) };
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (mut n, mut answered) = (0u64, 0u64);
    while started.elapsed() < budget() {
        let caller = callers[g.rng.random_range(0..callers.len())].clone();
        let op = g.operation();
        let mut r = client.post(format!("{base}/graphql")).json(&json!({ "query": op }));
        r = match &caller {
            As::Nobody => r,
            As::Citizen(sub) => r.bearer_auth(token(Role::Citizen, None, sub)),
            As::Staff(role, unit) => r.bearer_auth(token(*role, Some(unit), &format!("{role:?}-{unit}"))),
        };
        let response = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("seed {}: no answer to {op} as {caller:?}: {e}", seed()));
        let status = response.status().as_u16();
        let v: Value = response.json().await.unwrap();
        assert!(status < 500, "seed {}: {status} for {op} as {caller:?}: {v}", seed());
        if let Some(o) = oracle.outside(&caller, &v["data"]).await {
            panic!("seed {}: {op} as {caller:?} returned a record outside the scope: {o}", seed());
        }
        let text = v.to_string().to_lowercase();
        assert!(!text.contains("panicked") && !text.contains("sqlx"), "seed {}: internals in {v}", seed());
        n += 1;
        answered += u64::from(v["errors"].is_null());
    }
    eprintln!("{n} random operations, {answered} answered without an error");
    assert!(n > 20, "the fuzzer ran");
}
