-- HTTPS and Kakao's addresses, shared by every instance.

-- The ACME account for each CA directory (TLS_DOMAINS): one per CA, made once
-- and used by whichever instance renews.
CREATE TABLE acme_accounts (
    directory_url TEXT PRIMARY KEY NOT NULL,
    credentials   TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- The certificate for a set of domains (sorted, comma-joined), its key, and
-- when it is due for renewal; every instance serves what is here and picks
-- up a new one within TLS_RELOAD_SECONDS. A failed attempt is kept for the
-- alert (failed_since, last_error) until one succeeds.
CREATE TABLE tls_certificates (
    domains      TEXT PRIMARY KEY NOT NULL,
    cert_pem     TEXT,
    key_pem      TEXT,
    not_after    INTEGER,
    renew_at     INTEGER,
    last_error   TEXT,
    failed_since INTEGER,
    updated_at   INTEGER NOT NULL
);

-- Challenges in progress, so any instance behind the DNS name answers the CA.
CREATE TABLE acme_challenges (
    token             TEXT PRIMARY KEY NOT NULL,
    kind              TEXT NOT NULL,
    domain            TEXT NOT NULL,
    key_authorization TEXT NOT NULL,
    expires_at        INTEGER NOT NULL
);
CREATE INDEX acme_challenges_domain ON acme_challenges (domain);

-- Work one instance at a time does (renewing the certificate): taken by a
-- conditional upsert, it lapses at expires_at if its holder dies.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The last good list of Kakao's callback addresses (KAKAO_SOURCE_IPS=auto),
-- as a JSON array of networks.
CREATE TABLE kakao_source_ips (
    list       TEXT PRIMARY KEY NOT NULL,
    networks   TEXT NOT NULL,
    fetched_at INTEGER NOT NULL
);
