pub(crate) struct BytesTable;
