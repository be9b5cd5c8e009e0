"""Migration in and out: balance files read (`formats`), applied through the ledger
(`balances`), the ledger exported as CSV (`export`), the upload's RQ job (`jobs`) and the
`import-balances` / `export-ledger` commands (`cli`). See docs/import-export.md."""
