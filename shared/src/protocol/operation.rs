//! The operations this mock serves.

use crate::wire_enum;

wire_enum! {
    /// A KMS operation the endpoint answers (the `<Op>` of `X-Amz-Target: TrentService.<Op>`).
    pub enum Operation {
        CancelKeyDeletion = "CancelKeyDeletion",
        CreateAlias = "CreateAlias",
        CreateKey = "CreateKey",
        DeleteAlias = "DeleteAlias",
        DescribeKey = "DescribeKey",
        DisableKey = "DisableKey",
        EnableKey = "EnableKey",
        GetParametersForImport = "GetParametersForImport",
        ListAliases = "ListAliases",
        ListKeys = "ListKeys",
        ScheduleKeyDeletion = "ScheduleKeyDeletion",
        UpdateAlias = "UpdateAlias",
    }
}

impl Operation {
    /// The service model's input shape of this operation.
    pub fn input_shape(self) -> &'static str {
        super::model::Model::get()
            .input_shape(self.as_str())
            .expect("every served operation is in the model")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_model() {
        for op in Operation::ALL {
            assert_eq!(op.input_shape(), format!("{op}Request"));
        }
    }
}
