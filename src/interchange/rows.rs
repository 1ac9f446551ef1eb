//! Interchange records as the rows persistence writes: the format's names and defaults end here.

use crate::db::rows::*;
use crate::domain::time::to_micros;
use crate::domain::{ApplicantKinds, ContentParts};

use super::records::*;

impl From<&UnitRec> for UnitRow {
    fn from(r: &UnitRec) -> Self {
        UnitRow {
            code: r.code.clone(),
            name: r.name.clone(),
            level: r.level,
            parent_code: r.parent.clone(),
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            successor_code: r.successor.clone(),
            offers_e_certified_copy: r.offers_e_certified_copy,
        }
    }
}

impl From<&SectorRec> for SectorRow {
    fn from(r: &SectorRec) -> Self {
        SectorRow { code: r.code.clone(), name: r.name.clone() }
    }
}

impl From<&ProcedureRec> for ProcedureRow {
    fn from(r: &ProcedureRec) -> Self {
        ProcedureRow {
            code: r.code.clone(),
            name: r.name.clone(),
            level: r.level,
            online_level: r.online_level,
            fee: r.fee,
            processing_days: r.processing_days,
            applicant_types: ApplicantKinds(r.applicant_types.clone()),
            returns_paper_result: r.returns_paper_result,
            status: r.status.0,
            legal_effective_on: r.legal_effective_on,
            announced_on: r.announced_on,
            published_on: r.published_on,
            content: ContentParts(r.content.clone()),
            national_portal_integrated: r.national_portal_integrated,
        }
    }
}

impl From<&DossierRec> for DossierRow {
    fn from(r: &DossierRec) -> Self {
        let a = &r.applicant;
        DossierRow {
            code: r.code.clone(),
            channel: r.channel,
            applicant: ApplicantRow {
                id_number: a.id_number.clone(),
                name: a.name.clone(),
                kind: a.kind.0,
                phone: a.phone.clone(),
                email: a.email.clone(),
                vneid_verified: a.vneid_verified,
            },
            submitted_at: r.submitted_at.map(to_micros),
            received_at: to_micros(r.received_at),
            due_at: to_micros(r.due_at),
            events: r
                .events
                .iter()
                .map(|e| EventRow { status: e.status, at: to_micros(e.at), note: e.note.clone() })
                .collect(),
            supplements: r
                .supplements
                .iter()
                .map(|s| SupplementRow {
                    requested_at: to_micros(s.requested_at),
                    received_at: s.received_at.map(to_micros),
                    reason: s.reason.clone(),
                })
                .collect(),
            apologies: r
                .apologies
                .iter()
                .map(|a| ApologyRow {
                    issued_at: to_micros(a.issued_at),
                    reason: a.reason.clone(),
                    new_due_at: to_micros(a.new_due_at),
                })
                .collect(),
            inputs_digitized: r.inputs_digitized,
            reused_data: r.reused_data,
            from_citizen_storage: r.from_citizen_storage,
            result_electronic: r.result_electronic,
            result_to_citizen_storage: r.result_to_citizen_storage,
            synced_at: r.synced_at.map(to_micros),
        }
    }
}

impl From<&ReceiptRec> for ReceiptRow {
    fn from(r: &ReceiptRec) -> Self {
        ReceiptRow {
            series: r.series.clone(),
            number: r.number,
            template: r.template.clone(),
            payer_name: r.payer_name.clone(),
            payer_tax_code: r.payer_tax_code.clone(),
            amount: r.amount,
            kind: r.kind,
            payment_channel: r.payment_channel,
            method: r.method,
            transaction_ref: r.transaction_ref.clone(),
            issued_at: to_micros(r.issued_at),
            status: r.status.0,
            cancelled_at: r.cancelled_at.map(to_micros),
            cancel_reason: r.cancel_reason.clone(),
        }
    }
}

impl From<&FeedbackRec> for FeedbackRow {
    fn from(r: &FeedbackRec) -> Self {
        FeedbackRow {
            code: r.code.clone(),
            kind: r.kind,
            channel: r.channel,
            received_at: to_micros(r.received_at),
            due_at: r.due_at.map(to_micros),
            answered_at: r.answered_at.map(to_micros),
            answer: r.answer.clone(),
            rating: r.rating,
            likes: r.likes,
            dislikes: r.dislikes,
            content: r.content.clone(),
            recorded_by: r.recorded_by.clone(),
        }
    }
}
