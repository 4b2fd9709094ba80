"""sikader shared package: event contracts, envelope, outbox/inbox, auth and the other
cross-cutting helpers every service imports. No domain rules live here."""
