//! The fields of the schema that carry personal data, as the audit trail names them.

/// A personal-data field of the schema. Each read of one is recorded in the audit trail with its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonalField {
    ApplicantName,
    ApplicantIdNumber,
    ApplicantPhone,
    ApplicantEmail,
    PayerName,
    PayerTaxCode,
    RecordedBy,
}

/// How a personal-data field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// As given (a name).
    Clear,
    /// Masked (`*********901`): the API never returns an identity number, phone or email in full.
    Masked,
}

impl PersonalField {
    /// Every field, in the order of their bits in [`FieldSet`].
    pub const ALL: [PersonalField; 7] = [
        PersonalField::ApplicantName,
        PersonalField::ApplicantIdNumber,
        PersonalField::ApplicantPhone,
        PersonalField::ApplicantEmail,
        PersonalField::PayerName,
        PersonalField::PayerTaxCode,
        PersonalField::RecordedBy,
    ];

    /// The name recorded in the audit trail: type and field of the schema.
    pub fn name(self) -> &'static str {
        match self {
            PersonalField::ApplicantName => "applicant.name",
            PersonalField::ApplicantIdNumber => "applicant.idNumberMasked",
            PersonalField::ApplicantPhone => "applicant.phoneMasked",
            PersonalField::ApplicantEmail => "applicant.emailMasked",
            PersonalField::PayerName => "receipt.payerName",
            PersonalField::PayerTaxCode => "receipt.payerTaxCode",
            PersonalField::RecordedBy => "feedback.recordedBy",
        }
    }

    pub fn form(self) -> Form {
        match self {
            PersonalField::ApplicantName | PersonalField::PayerName => Form::Clear,
            _ => Form::Masked,
        }
    }
}

/// A set of personal fields, stored as one integer (bit `i` for `PersonalField::ALL[i]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u32);

/// A stored field set with bits no field has: written by something other than this gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a set of personal fields")]
pub struct UnknownFields(pub i64);

impl FieldSet {
    pub fn insert(&mut self, f: PersonalField) {
        self.0 |= 1 << PersonalField::ALL.iter().position(|&x| x == f).unwrap_or(0);
    }

    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields, in [`PersonalField::ALL`] order.
    pub fn fields(self) -> Vec<PersonalField> {
        PersonalField::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| *f)
            .collect()
    }

    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    pub fn from_bits(bits: i64) -> Result<FieldSet, UnknownFields> {
        let all = (1i64 << PersonalField::ALL.len()) - 1;
        if bits & !all != 0 || bits < 0 {
            return Err(UnknownFields(bits));
        }
        Ok(FieldSet(bits as u32))
    }
}

impl FromIterator<PersonalField> for FieldSet {
    fn from_iter<I: IntoIterator<Item = PersonalField>>(iter: I) -> Self {
        let mut s = FieldSet::default();
        for f in iter {
            s.insert(f);
        }
        s
    }
}

/// A citizen's identity number: 9 digits (old identity card) or 12 (citizen identity number).
pub fn valid_citizen_id(id: &str) -> bool {
    (id.len() == 9 || id.len() == 12) && id.bytes().all(|b| b.is_ascii_digit())
}

/// A tax code: 10 digits, or 10 digits, a hyphen and 3 digits (a branch).
pub fn valid_tax_code(id: &str) -> bool {
    let b = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        10 => digits(b),
        14 => digits(&b[..10]) && b[10] == b'-' && digits(&b[11..]),
        _ => false,
    }
}

/// Checks an applicant's identity number against their kind.
pub fn check_applicant_id(kind: crate::enums::ApplicantKind, id: &str) -> Result<(), &'static str> {
    match kind {
        crate::enums::ApplicantKind::Citizen if !valid_citizen_id(id) => {
            Err("a citizen's id_number has 9 or 12 digits")
        }
        crate::enums::ApplicantKind::Business | crate::enums::ApplicantKind::Organization
            if !valid_tax_code(id) =>
        {
            Err("a tax code has 10 digits, or 10 digits, a hyphen and 3 digits")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_sets_round_trip_through_their_bits() {
        let s: FieldSet = [PersonalField::RecordedBy, PersonalField::ApplicantName].into_iter().collect();
        assert_eq!(s.fields(), vec![PersonalField::ApplicantName, PersonalField::RecordedBy]);
        assert_eq!(FieldSet::from_bits(s.bits()), Ok(s));
        assert_eq!(FieldSet::from_bits(1 << 7), Err(UnknownFields(128)));
        assert!(FieldSet::default().is_empty());
    }
}
