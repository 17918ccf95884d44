"""The SEIKO loop: acquisition, fine-tuning, ledger, run directory."""
