//! Parsing one line and the rules a record must satisfy on its own. Rules that need other records
//! (references, cycles) are checked by the importer.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::records::*;
use domain::*;

/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One broken rule on one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: u64,
    /// The record's natural key, when it could be read.
    pub key: Option<String>,
    /// The field at fault (a JSON path such as `events[2].at`), or `-` for the line as a whole.
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: key {}: field {}: {}",
            self.line,
            self.key.as_deref().unwrap_or("-"),
            self.field,
            self.reason
        )
    }
}

fn err(line: u64, key: Option<&str>, field: &str, reason: impl Into<String>) -> LineError {
    LineError { line, key: key.map(str::to_owned), field: field.to_owned(), reason: reason.into() }
}

/// Parses one line (without its newline) and checks the rules that need no other record.
pub fn parse_line(bytes: &[u8], line: u64) -> Result<Record, Vec<LineError>> {
    if bytes.len() > MAX_LINE_BYTES {
        return Err(vec![err(line, None, "-", format!("line longer than {MAX_LINE_BYTES} bytes"))]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| vec![err(line, None, "-", "invalid UTF-8")])?;
    let value = serde_json::from_str::<Unique>(text)
        .map_err(|e| vec![err(line, None, "-", format!("invalid JSON: {e}"))])?
        .0;
    let Value::Object(mut map) = value else {
        return Err(vec![err(line, None, "-", "a line must be a JSON object")]);
    };
    let key = natural_key(&map);
    let ty = match map.remove("type") {
        Some(Value::String(t)) => t,
        Some(_) => return Err(vec![err(line, key.as_deref(), "type", "must be a string")]),
        None => return Err(vec![err(line, key.as_deref(), "type", "missing")]),
    };
    let record = match ty.as_str() {
        "unit" => typed(map, line, &key).map(Record::Unit),
        "holiday" => typed(map, line, &key).map(Record::Holiday),
        "sector" => typed(map, line, &key).map(Record::Sector),
        "procedure" => typed(map, line, &key).map(Record::Procedure),
        "dossier" => typed(map, line, &key).map(Record::Dossier),
        "receipt" => typed(map, line, &key).map(Record::Receipt),
        "feedback" => typed(map, line, &key).map(Record::Feedback),
        other => Err(err(line, key.as_deref(), "type", format!("unknown type `{other}`"))),
    }
    .map_err(|e| vec![e])?;
    let errors = check(&record, line);
    if errors.is_empty() { Ok(record) } else { Err(errors) }
}

/// A JSON value whose objects never repeat a key: `{"code": "A", "code": "B"}` is refused, where a plain
/// [`Value`] would keep the last silently. Nesting is bounded by serde_json's recursion limit (128).
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unique(v) = map.next_value()?;
            if out.insert(key.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
        }
        Ok(Value::Object(out))
    }
}

fn natural_key(map: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    s("code").or_else(|| s("date")).or_else(|| {
        let series = s("series")?;
        Some(format!("{series}/{}", map.get("number").map(Value::to_string).unwrap_or_default()))
    })
}

fn typed<T: DeserializeOwned>(
    map: Map<String, Value>,
    line: u64,
    key: &Option<String>,
) -> Result<T, LineError> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "-".to_owned() } else { path };
        // Reports go to terminals and logs: an error about personal data names the field, never its value.
        let reason = if holds_personal_data(&field) {
            "not a value of the expected type (the value, personal data, is not repeated here)".to_owned()
        } else {
            e.into_inner().to_string()
        };
        err(line, key.as_deref(), &field, reason)
    })
}

/// Whether a field holds personal data (docs/interchange.md: the applicant's identity number, phone and
/// email; and names, tax codes and who recorded a feedback).
fn holds_personal_data(path: &str) -> bool {
    path.starts_with("applicant") || matches!(path, "payer_name" | "payer_tax_code" | "recorded_by")
}

pub use domain::personal::{check_applicant_id, valid_citizen_id, valid_tax_code};

/// The rules of docs/interchange.md that a record satisfies on its own.
pub fn check(record: &Record, line: u64) -> Vec<LineError> {
    let key = record.key();
    let mut f = Faults { line, key: Some(key.as_str()), out: Vec::new() };
    match record {
        Record::Unit(u) => check_unit(&mut f, u),
        Record::Holiday(h) => f.nonblank("name", &h.name),
        Record::Sector(s) => {
            f.nonblank("code", &s.code);
            f.nonblank("name", &s.name);
        }
        Record::Procedure(p) => check_procedure(&mut f, p),
        Record::Dossier(d) => check_dossier(&mut f, d),
        Record::Receipt(r) => check_receipt(&mut f, r),
        Record::Feedback(fb) => check_feedback(&mut f, fb),
    }
    f.out
}

/// The faults found in one line, with its number and the record's key.
struct Faults<'a> {
    line: u64,
    key: Option<&'a str>,
    out: Vec<LineError>,
}

impl Faults<'_> {
    fn fault(&mut self, field: &str, reason: &str) {
        self.out.push(err(self.line, self.key, field, reason));
    }

    /// A fault when `condition` holds.
    fn when(&mut self, condition: bool, field: &str, reason: &str) {
        if condition {
            self.fault(field, reason);
        }
    }

    fn nonblank(&mut self, field: &str, v: &str) {
        self.when(v.trim().is_empty(), field, "must not be empty");
    }
}

fn check_unit(f: &mut Faults<'_>, u: &UnitRec) {
    f.nonblank("code", &u.code);
    f.nonblank("name", &u.name);
    f.when(u.parent.as_deref() == Some(u.code.as_str()), "parent", "a unit cannot be its own parent");
    f.when(
        u.successor.as_deref() == Some(u.code.as_str()),
        "successor",
        "a unit cannot be its own successor",
    );
    let inverted = matches!((u.valid_from, u.valid_to), (Some(from), Some(to)) if from >= to);
    f.when(inverted, "valid_to", "must be after valid_from");
}

fn check_procedure(f: &mut Faults<'_>, p: &ProcedureRec) {
    f.nonblank("code", &p.code);
    f.nonblank("name", &p.name);
    f.when(p.fee < 0, "fee", "must not be negative");
    f.when(p.fee > lifecycle::MAX_AMOUNT, "fee", "must be at most 1,000,000,000,000");
    let bad_days = p.processing_days.is_some_and(|d| !(d >= 0.0 && d.is_finite()));
    f.when(bad_days, "processing_days", "must be a non-negative number");
    let too_long = p.processing_days.is_some_and(|d| d > f64::from(lifecycle::MAX_WORKING_DAYS));
    f.when(too_long, "processing_days", "must be at most 2000 working days");
}

fn check_dossier(f: &mut Faults<'_>, d: &DossierRec) {
    f.nonblank("code", &d.code);
    f.nonblank("applicant.name", &d.applicant.name);
    if let Err(reason) = check_applicant_id(d.applicant.kind.0, &d.applicant.id_number) {
        f.fault("applicant.id_number", reason);
    }
    f.when(d.due_at < d.received_at, "due_at", "must not be before received_at");
    for (i, e) in d.events.iter().enumerate() {
        let early = e.at < d.received_at && e.status != DossierStatus::Registered;
        f.when(early, &format!("events[{i}].at"), "must not be before received_at");
    }
    for (i, s) in d.supplements.iter().enumerate() {
        let field = format!("supplements[{i}].requested_at");
        f.when(s.requested_at < d.received_at, &field, "must not be before received_at");
        let field = format!("supplements[{i}].received_at");
        f.when(s.received_at.is_some_and(|r| r < s.requested_at), &field, "must not be before requested_at");
    }
    for (i, a) in d.apologies.iter().enumerate() {
        f.nonblank(&format!("apologies[{i}].reason"), &a.reason);
    }
}

fn check_receipt(f: &mut Faults<'_>, r: &ReceiptRec) {
    f.nonblank("series", &r.series);
    f.nonblank("payer_name", &r.payer_name);
    if let Err(reason) = lifecycle::check_receipt_number(r.number) {
        f.fault("number", reason);
    }
    if let Err(reason) = lifecycle::check_amount(r.amount) {
        f.fault("amount", reason);
    }
    let cancelled = r.status.0 == ReceiptStatus::Cancelled;
    f.when(cancelled != r.cancelled_at.is_some(), "cancelled_at", "given exactly when status is CANCELLED");
    f.when(cancelled != r.cancel_reason.is_some(), "cancel_reason", "given exactly when status is CANCELLED");
    f.when(r.cancelled_at.is_some_and(|c| c < r.issued_at), "cancelled_at", "must not be before issued_at");
}

fn check_feedback(f: &mut Faults<'_>, fb: &FeedbackRec) {
    f.nonblank("code", &fb.code);
    f.when(fb.kind.is_pakn() && fb.due_at.is_none(), "due_at", "required for COMPLAINT and RECOMMENDATION");
    f.when(fb.kind == FeedbackKind::Rating && fb.rating.is_none(), "rating", "required for RATING");
    f.when(fb.repeat_of.as_deref() == Some(fb.code.as_str()), "repeat_of", "must name another feedback");
    f.when(fb.likes < 0, "likes", "must not be negative");
    f.when(fb.dislikes < 0, "dislikes", "must not be negative");
    f.when(fb.due_at.is_some_and(|d| d < fb.received_at), "due_at", "must not be before received_at");
    f.when(
        fb.answered_at.is_some_and(|a| a < fb.received_at),
        "answered_at",
        "must not be before received_at",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        match parse_line(line.as_bytes(), 7) {
            Ok(_) => vec![],
            Err(errs) => {
                errs.into_iter().map(|e| format!("{}|{}", e.key.unwrap_or_default(), e.field)).collect()
            }
        }
    }

    const DOSSIER: &str = r#"{"type":"dossier","code":"D1","procedure":"P","unit":"U","channel":"ONLINE","applicant":{"id_number":"012345678901","name":"A"},"received_at":"2024-01-02T08:00:00+07:00","due_at":"2024-01-05T08:00:00+07:00","events":[{"status":"REGISTERED","at":"2024-01-01T08:00:00+07:00"}]}"#;

    #[test]
    fn a_valid_dossier_parses_with_defaults() {
        let Ok(Record::Dossier(d)) = parse_line(DOSSIER.as_bytes(), 1) else { panic!("expected a dossier") };
        assert_eq!(d.applicant.kind.0, ApplicantKind::Citizen);
        assert!(d.supplements.is_empty());
        assert!(!d.inputs_digitized);
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        assert_eq!(fields(&DOSSIER.replace("\"A\"}", "\"A\",\"age\":3}")), vec!["D1|applicant.age"]);
        assert_eq!(fields(&DOSSIER.replace("ONLINE", "FAX")), vec!["D1|channel"]);
        assert_eq!(fields(&DOSSIER.replace("012345678901", "01234")), vec!["D1|applicant.id_number"]);
        assert_eq!(fields(&DOSSIER.replace("2024-01-05", "2024-01-01")), vec!["D1|due_at"]);
        assert_eq!(fields(&DOSSIER.replace("REGISTERED", "PROCESSING")), vec!["D1|events[0].at"]);
        assert_eq!(fields(&DOSSIER.replace("\"type\":\"dossier\"", "\"type\":\"parcel\"")), vec!["D1|type"]);
        assert_eq!(fields("{\"type\":"), vec!["|-"]);
        assert_eq!(
            fields(
                r#"{"type":"receipt","series":"S","number":0,"dossier":"D","payer_name":"P","amount":0,"kind":"FEE","payment_channel":"COUNTER","issued_at":"2024-01-01T00:00:00Z","status":"CANCELLED"}"#
            ),
            vec!["S/0|number", "S/0|amount", "S/0|cancelled_at", "S/0|cancel_reason"]
        );
        assert_eq!(
            fields(
                r#"{"type":"feedback","code":"F","kind":"COMPLAINT","channel":"SMS","unit":"U","received_at":"2024-01-01T00:00:00Z","repeat_of":"F"}"#
            ),
            vec!["F|due_at", "F|repeat_of"]
        );
        assert_eq!(parse_line(b"\xff\xfe", 3).unwrap_err()[0].reason, "invalid UTF-8");
    }

    #[test]
    fn errors_about_personal_data_never_repeat_it() {
        let line = DOSSIER.replace("\"012345678901\"", "791234567801");
        let errs = fields(&line);
        assert_eq!(errs, vec!["D1|applicant.id_number"]);
        let reason = parse_line(line.as_bytes(), 1).unwrap_err().remove(0).reason;
        assert!(!reason.contains("791234567801"), "{reason}");
    }

    #[test]
    fn tax_codes_and_identity_numbers() {
        assert!(valid_citizen_id("123456789"));
        assert!(!valid_citizen_id("1234567890"));
        assert!(valid_tax_code("0101234567"));
        assert!(valid_tax_code("0101234567-001"));
        assert!(!valid_tax_code("0101234567_001"));
    }
}
