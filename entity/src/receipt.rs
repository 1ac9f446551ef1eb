//! Electronic fee receipts (biên lai điện tử), unique by series and number.
use domain::{PaymentChannel, PaymentMethod, ReceiptKind, ReceiptStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "receipt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub series: String,
    pub number: i64,
    pub template: Option<String>,
    pub dossier_id: i64,
    pub payer_name: String,
    pub payer_tax_code: Option<String>,
    pub amount: i64,
    pub kind: ReceiptKind,
    pub payment_channel: PaymentChannel,
    pub method: Option<PaymentMethod>,
    pub transaction_ref: Option<String>,
    pub issued_at: i64,
    pub status: ReceiptStatus,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub version: i32,
    pub content_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
