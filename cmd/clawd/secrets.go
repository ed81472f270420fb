package main

import (
	"sort"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// sealedFields is every place clawd keeps a sealed secret in the store:
// what `clawd secrets rotate` rewraps and `clawd secrets status` counts.
func sealedFields() []secrets.Field {
	fields := []secrets.Field{
		{Kind: "provider keys", Prefix: "providers/", JSON: "sealedKey", Context: provider.KeyContext},
		{Kind: "sign-in client secrets", Prefix: "logins/", JSON: "sealedSecret", Context: auth.SecretContext},
	}
	// Volume keys (volumes/, encryption.enabled) are stored as the wrapped
	// value itself, bound to "clawd/volume/<ns>"; until volume encryption
	// stores any, the prefix is empty.
	fields = append(fields, secrets.Field{Kind: "volume keys", Prefix: "volumekeys/",
		Context: func(ns string) string { return "clawd/volume/" + ns }})
	names := make([]string, 0, len(billing.SealedSettings))
	for f := range billing.SealedSettings {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		ctx := billing.SealedSettings[f]
		fields = append(fields, secrets.Field{Kind: "stripe keys", Prefix: "billing/" + billing.SettingsKey, JSON: f,
			Context: func(string) string { return ctx }})
	}
	return fields
}

// secretKeeper serves /api/v1/secrets over the store.
func secretKeeper(box *secrets.Box, st *store.Store) secrets.Keeper {
	return secrets.Keeper{Box: box, Records: st, Fields: sealedFields()}
}

var _ auth.Box = (*secrets.CookieBox)(nil)

// cookieBox seals sign-in cookies under the local master key: a cookie is
// browser input, and opening one must never reach the key source.
func cookieBox(b auth.Box) auth.Box {
	if sb, ok := b.(*secrets.Box); ok {
		return sb.Cookies()
	}
	return b
}
