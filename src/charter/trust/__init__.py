"""Signed charters that travel between organisations: publisher keys and the trust store (keys), DSSE
envelopes over in-toto Statements (sign), self-contained bundles verified offline (bundle), and signed
withdrawal/restriction feeds (feed). The trust model: docs/security.md, "Signed charters and bundles"."""
