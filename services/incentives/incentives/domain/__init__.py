"""Pure incentive rules: periods and their state machine, policy versions, facts built from
events, eligibility with reasons, payment files. No I/O here."""
