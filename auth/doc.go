// Package auth owns TrialGate's identities: individual accounts with
// argon2id passwords, role grants per trial (and site), bearer-token
// sessions with absolute and idle expiry, lockout after repeated failures,
// and electronic signatures (21 CFR 11.50, 11.70, 11.200).
//
// Every change is made through db.Write together with its audit entries,
// all on the system chain; attempts that change nothing (a login with an
// unknown username, a refused signature on a locked account) are recorded
// with db.Record, so denied and failed attempts leave their trace. The
// entries never carry a password, its hash or a bearer token.
//
// # Who may call what
//
// Domain services authorize the actions they own with Require: the caller
// must hold one of the roles in the action's scope (trial, site), or the
// refusal is recorded (access.denied, outcome denied, on the scope's chain,
// naming what was asked for) and a trialgate.EForbidden error returned.
// Deny records a refusal that is not about roles (approving one's own
// work). The command line acts as an Operator: a principal of actor
// system:<component> holding the grants its command needs, authorized like
// anyone else.
//
// A trial that does not exist is not found, never forbidden: Require,
// Deny and Exists answer trialgate.ENotFound "no trial <id>" for it,
// whatever the caller's grants (a grant may name a trial before it is
// defined), and record the refusal on the system chain, since no refusal
// starts a trial's chain (db.Record). A trial exists once its chain has
// started, which the change that defines it does; defining one is the only
// action that needs its trial absent (RequireNew). So a caller learns
// whether a trial id is in use, and nothing else: what a trial holds is
// behind its grants.
//
// Accounts are system data: only an admin (Has(Admin, "", "")) or a system
// component such as the CLI may call CreateUser, AddGrant, RevokeGrant,
// Deactivate, Activate and Unlock, which the HTTP layer checks. Those functions take
// the acting identity explicitly (by) and refuse only one thing themselves:
// a person changing their own account's grants or status, so an
// administrator cannot raise their own privileges.
//
// # Sessions
//
// Login returns an opaque bearer token of 256 random bits (base64url); the
// database holds only its SHA-256, so a copy of the database does not yield
// working tokens. A session has an id (recorded in the audit trail as the
// actor's session, never the token), an absolute expiry (Config.SessionTTL)
// and an idle timeout (Config.IdleTimeout). Last use is written with
// db.MarkActivity at most once per Config.ActivityInterval, so requests do
// not each write; the idle check therefore errs on the early side by at
// most that interval, never late.
//
// # Lockout
//
// Config.LockoutThreshold consecutive wrong passwords, at login or when
// signing, lock the account for Config.LockoutDuration. While locked, even
// the right password is refused and attempts do not extend the lock. After
// the lock runs out the account starts a fresh count; the right password
// resets the count; an administrator lifts a lock early with Unlock.
//
// Login gives one public answer, trialgate.EUnauthorized "invalid username
// or password", whether the username is unknown, the password wrong (on a
// locked account too), or the account inactive, and verifies a password
// hash in every case so the timing does not tell them apart; the audit
// entry records the real reason. The one exception is the right password
// of a locked account: only its owner (or whoever has their password)
// gets there, and they need to know why they cannot sign in, so Login
// answers trialgate.ELocked with a *LockedError saying until when and how
// an administrator unlocks it.
//
// # Audit entries written here (system chain)
//
//	auth.login           every login attempt; actor "anonymous" (with IP and
//	                     User-Agent) unless it succeeded; object user/<id>
//	                     when the account exists; after.username is the
//	                     attempted username when it is a well-formed one;
//	                     outcome success, failed (unknown user, wrong
//	                     password) or denied (inactive or locked account)
//	auth.locked_out      the lock applied, with locked_until
//	auth.logout          a session ended by its user (object session/<id>)
//	auth.token_expired   the first request on an expired session
//	auth.session_revoked sessions ended by deactivating their account
//	auth.failures_reset  a correct signing password cleared earlier failures
//	user.unlocked        an administrator's Unlock (reason "unlocked by an
//	                     administrator", before.locked_until)
//	esign.failed         a refused signature (meaning and record hash)
//	user.created, user.grant_added, user.grant_revoked,
//	user.deactivated, user.activated
//
// A successful signature is not recorded here: Sign returns the
// audit.Signature and the caller records it in the transaction of the
// signed change.
package auth
