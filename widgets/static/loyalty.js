/*
 * Loyalty Loop storefront widget: a launcher button and a rewards panel in a Shadow DOM.
 *
 * Served as one file at /widget/loyalty.js: widgets/assets.py puts the message catalogue
 * (messages.json) and the styles (loyalty.css) in place of the two placeholder tokens.
 * Plain modern JavaScript, no build step, no dependencies; it talks only to our API.
 * Configuration comes from the data-* attributes of its own script tag; see docs/widget.md.
 */
(() => {
  "use strict";
  if (window.LoyaltyLoop) return; // embedded twice: the first copy wins

  const MESSAGES = __LOYALTY_MESSAGES__;
  const CSS = __LOYALTY_CSS__;

  const script =
    document.currentScript ||
    document.querySelector('script[src*="loyalty.js"][data-shop], script[src*="loyalty.js"][data-mode]');
  if (!script) return;
  const cfg = script.dataset;

  // -- where the API is and who is asking ---------------------------------------------------

  const proxyMode = cfg.mode === "app-proxy";
  const apiOrigin = (cfg.api || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  const apiBase = proxyMode ? (cfg.proxyPath || "/apps/loyalty").replace(/\/+$/, "") + "/v1" : apiOrigin + "/storefront/v1";
  const platform = cfg.platform || (proxyMode ? "shopify" : "");
  const identityHeaders = {};
  if (!proxyMode) {
    identityHeaders["X-Loyalty-Shop"] = cfg.shop || "";
    identityHeaders["X-Loyalty-Timestamp"] = cfg.timestamp || "";
    identityHeaders["X-Loyalty-Signature"] = cfg.signature || "";
    if (cfg.customer) identityHeaders["X-Loyalty-Customer"] = cfg.customer;
  }

  // -- language, numbers and money ------------------------------------------------------------

  const requested = (cfg.lang || document.documentElement.lang || navigator.language || "en").toLowerCase();
  let base = requested.split(/[-_]/)[0];
  if (base === "no" || base === "nn") base = "nb";
  const lang = MESSAGES[base] ? base : "en";
  const locale = requested.startsWith(lang + "-") ? requested : lang;
  const texts = Object.assign({}, MESSAGES.en, MESSAGES[lang]);
  for (const name of Object.keys(cfg)) {
    // data-text-launcher="Club" overrides the "launcher" message (merchant's own words).
    if (name.startsWith("text") && name.length > 4) {
      const key = name.slice(4).replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
      if (typeof texts[key] === "string") texts[key] = cfg[name];
    }
  }
  const numberFormat = new Intl.NumberFormat(locale);
  const plural = new Intl.PluralRules(locale);
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });

  function t(key, vars) {
    const text = texts[key] == null ? key : String(texts[key]);
    return text.replace(/\{(\w+)\}/g, (m, name) => (vars && vars[name] != null ? String(vars[name]) : m));
  }
  function points(n) {
    const forms = texts.points;
    return (forms[plural.select(n)] || forms.other).replace("{n}", numberFormat.format(n));
  }
  function currencyDigits(currency) {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  }
  function money(minor, currency) {
    const digits = currencyDigits(currency);
    return new Intl.NumberFormat(locale, { style: "currency", currency }).format(minor / 10 ** digits);
  }

  // -- the API ----------------------------------------------------------------------------------

  // A page from a full-page cache carries an old signature: where the store offers it
  // (the WooCommerce plugin's data-identity-url), fetch a fresh one from the store.
  const STALE_AFTER_SECONDS = 240;
  async function freshIdentity() {
    if (proxyMode || !cfg.identityUrl) return false;
    try {
      const res = await fetch(cfg.identityUrl, {
        headers: { Accept: "application/json", "X-WP-Nonce": cfg.identityNonce || "" },
        credentials: "same-origin", cache: "no-store",
      });
      const id = res.ok ? await res.json() : null;
      if (!id || !id.signature || !id.timestamp || !id.shop) return false;
      identityHeaders["X-Loyalty-Shop"] = String(id.shop);
      identityHeaders["X-Loyalty-Timestamp"] = String(id.timestamp);
      identityHeaders["X-Loyalty-Signature"] = String(id.signature);
      if (id.customer) identityHeaders["X-Loyalty-Customer"] = String(id.customer);
      else delete identityHeaders["X-Loyalty-Customer"];
      return true;
    } catch (e) {
      return false;
    }
  }
  const signedAgo = () => Date.now() / 1000 - Number(identityHeaders["X-Loyalty-Timestamp"] || 0);

  async function api(path, options) {
    if (!proxyMode && cfg.identityUrl && signedAgo() > STALE_AFTER_SECONDS) await freshIdentity();
    const res = await call(path, options);
    if (res.status === 401 && errorCode(res) === "stale_storefront_signature" && (await freshIdentity())) {
      return call(path, options);
    }
    return res;
  }

  async function call(path, options) {
    const opts = options || {};
    const headers = Object.assign({ Accept: "application/json" }, identityHeaders);
    if (opts.body) headers["Content-Type"] = "application/json";
    if (opts.key) headers["Idempotency-Key"] = opts.key;
    try {
      const res = await fetch(apiBase + path, {
        method: opts.method || "GET",
        headers,
        body: opts.body ? JSON.stringify(opts.body) : undefined,
        credentials: proxyMode ? "same-origin" : "omit",
      });
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      return { status: res.status, ok: res.ok, body: body || {} };
    } catch (e) {
      return { status: 0, ok: false, body: {} };
    }
  }
  const errorCode = (res) => (res.body && res.body.error && res.body.error.code) || "";
  const newKey = () =>
    crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- state ------------------------------------------------------------------------------------

  const state = {
    loaded: false, loading: null, error: "", me: null, rewards: [], history: [],
    busy: 0, redeemError: "", result: null, copied: "",
  };

  function loadMe() {
    if (!state.loading) {
      state.loading = (async () => {
        const me = await api("/me");
        if (!me.ok) {
          state.error = errorCode(me) === "stale_storefront_signature" ? "error_stale" : "error_load";
          state.loading = null;
          return null;
        }
        state.me = me.body;
        claimReferral(me.body);
        return me.body;
      })();
    }
    return state.loading;
  }

  async function loadAll() {
    state.error = "";
    const me = await loadMe();
    if (!me) { render(); return; }
    const [rewards, history] = await Promise.all([
      api("/rewards"),
      me.guest ? Promise.resolve(null) : api("/history?limit=20"),
    ]);
    state.rewards = rewards.ok ? rewards.body.data || [] : [];
    state.history = history && history.ok ? history.body.data || [] : [];
    state.loaded = true;
    render();
    updateCart();
  }

  async function refresh() {
    state.loading = null;
    state.loaded = false;
    await loadAll();
  }

  async function redeem(reward, spend) {
    state.busy = reward.id;
    state.redeemError = "";
    render();
    const key = newKey(); // one key per click: retries below can never spend twice
    let res;
    for (let attempt = 0; attempt < 6; attempt++) {
      res = await api("/redemptions", { method: "POST", body: { reward_id: reward.id, points: spend }, key });
      const processing = res.status === 202 || (res.status === 503 && errorCode(res) === "redemption_processing");
      if (!processing || attempt === 5) break;
      await sleep(1000 * (attempt + 1));
    }
    state.busy = 0;
    if (res.status === 201 || res.status === 202) {
      state.result = res.body;
      state.me.points_balance = res.body.points_balance;
      announce(res.body.code ? t("code_ready", { code: res.body.code }) : t("code_pending"));
      render();
      const [rewards, history] = await Promise.all([api("/rewards"), api("/history?limit=20")]);
      if (rewards.ok) state.rewards = rewards.body.data || [];
      if (history.ok) state.history = history.body.data || [];
      updateCart();
      return;
    }
    state.redeemError = errorCode(res) === "insufficient_points" ? "error_insufficient" : "error_redeem";
    render();
  }

  // A friend's link (?loyalty_ref=CODE) is remembered on this store until the visitor
  // is signed in, then claimed once; a refusal (own link, already a customer) is final.
  const REF_KEY = "loyalty-loop-ref";
  function rememberReferral() {
    try {
      const code = new URLSearchParams(location.search).get("loyalty_ref");
      if (code && /^[A-Za-z0-9_-]{4,32}$/.test(code)) localStorage.setItem(REF_KEY, code);
    } catch (e) { /* storage blocked: no referral */ }
  }
  async function claimReferral(me) {
    let code = null;
    try { code = localStorage.getItem(REF_KEY); } catch (e) { return; }
    if (!code || me.guest) return;
    const res = await api("/referrals/claim", { method: "POST", body: { code } });
    if (res.status >= 200 && res.status < 500 && res.status !== 429) localStorage.removeItem(REF_KEY);
  }

  function applyUrl(code) {
    const encoded = encodeURIComponent(code);
    if (cfg.applyUrl) return cfg.applyUrl.replace("{code}", encoded);
    if (platform === "shopify") return "/discount/" + encoded + "?redirect=/cart";
    return "";
  }

  async function copy(text, which) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const field = root.querySelector("[data-copy-source]");
      if (field) { field.focus(); field.select(); }
    }
    state.copied = which;
    announce(t("copied"));
    render();
  }

  // -- DOM helpers --------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child != null && child !== false) el.append(child);
    }
    return el;
  }

  // -- colours (AA): the text on the merchant's colour is black or white, whichever reads -------

  function luminance(hex) {
    let v = hex.slice(1);
    if (v.length === 3) v = v.replace(/./g, "$&$&");
    const [r, g, b] = [0, 2, 4].map((i) => {
      const c = parseInt(v.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const contrast = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

  // -- the launcher and the panel ------------------------------------------------------------------

  const host = document.createElement("loyalty-loop-widget");
  const root = host.attachShadow({ mode: "open" });
  if (cfg.position === "bottom-left") host.setAttribute("data-position", "bottom-left");
  if (cfg.color && HEX.test(cfg.color)) {
    let on = cfg.textColor && HEX.test(cfg.textColor) ? cfg.textColor : "";
    if (!on || contrast(cfg.color, on) < 4.5) on = contrast(cfg.color, "#ffffff") >= 4.5 ? "#ffffff" : "#111111";
    host.style.setProperty("--ll-accent", cfg.color);
    host.style.setProperty("--ll-on-accent", on);
  }
  root.append(h("style", { text: CSS }));

  const launcher = h("button", {
    class: "ll-launcher", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false",
    "aria-controls": "ll-panel", text: t("launcher"), onclick: () => open(),
  });
  const closeButton = h("button", { type: "button", "aria-label": t("close"), text: "✕", onclick: () => close() });
  const body = h("div", { class: "ll-body" });
  const live = h("p", { class: "ll-sr", role: "status", "aria-live": "polite" });
  const panel = h(
    "div",
    { class: "ll-panel", id: "ll-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "ll-title", hidden: true },
    h("div", { class: "ll-head" }, h("h2", { id: "ll-title", text: t("title") }), closeButton),
    body,
    live,
  );
  root.append(launcher, panel);

  function announce(text) {
    live.textContent = "";
    setTimeout(() => { live.textContent = text; }, 50);
  }

  function open() {
    if (!panel.hidden) return;
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    host.setAttribute("data-open", "");
    render();
    closeButton.focus();
    if (!state.loaded) loadAll();
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    host.removeAttribute("data-open");
    state.result = null;
    launcher.focus();
  }

  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), [tabindex]:not([tabindex="-1"])';
  root.addEventListener("keydown", (event) => {
    if (panel.hidden) return;
    if (event.key === "Escape") { event.preventDefault(); close(); return; }
    if (event.key !== "Tab") return;
    const items = [...panel.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest("[hidden]"));
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = root.activeElement;
    if (event.shiftKey && (active === first || !panel.contains(active))) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && (active === last || !panel.contains(active))) { event.preventDefault(); first.focus(); }
  });

  // Focus that leaves the open dialog (a click on the page, a screen reader) comes back to it.
  document.addEventListener("focusin", (event) => {
    if (!panel.hidden && event.target !== host) closeButton.focus();
  });

  // -- views ------------------------------------------------------------------------------------------

  function render() {
    if (panel.hidden) return;
    const focusKey = root.activeElement && root.activeElement.getAttribute("data-key");
    body.replaceChildren(...view());
    if (focusKey) {
      const again = body.querySelector('[data-key="' + focusKey + '"]');
      if (again && !again.disabled) again.focus();
      else if (body.querySelector("[data-autofocus]")) body.querySelector("[data-autofocus]").focus();
      else closeButton.focus();
    } else if (body.querySelector("[data-autofocus]")) {
      body.querySelector("[data-autofocus]").focus();
    }
  }

  function view() {
    if (state.error) {
      return [h("section", {}, h("p", { class: "ll-error", role: "alert", text: t(state.error) }),
        h("button", { type: "button", "data-key": "retry", text: t("retry"), onclick: () => refresh() }))];
    }
    if (!state.loaded) return [h("p", { text: t("loading") })];
    if (state.result) return codeView();
    const me = state.me;
    return [
      me.guest ? guestSection() : balanceSection(me),
      rewardsSection(me),
      waysSection(me),
      me.referral_url ? referralSection(me.referral_url) : null,
      me.guest ? null : historySection(),
    ];
  }

  function guestSection() {
    const joinUrl = cfg.joinUrl || (platform === "shopify" ? "/account/register" : "");
    const loginUrl = cfg.loginUrl || (platform === "shopify" ? "/account/login" : "");
    return h("section", { "data-view": "guest" },
      h("h3", { text: t("guest_heading") }),
      h("p", { text: t("guest_body") }),
      h("div", { class: "ll-actions" },
        joinUrl ? h("a", { class: "ll-btn", href: joinUrl, text: t("join") }) : null,
        loginUrl ? h("a", { class: "ll-btn ll-quiet", href: loginUrl, text: t("sign_in") }) : null));
  }

  function balanceSection(me) {
    const balance = me.points_balance || 0;
    return h("section", { "data-view": "member" },
      h("h3", { text: t("balance_label") }),
      h("p", { class: "ll-balance", "data-points": balance, text: points(balance) }),
      me.pending_points > 0 ? h("p", { class: "ll-muted", text: t("pending", { points: points(me.pending_points) }) }) : null,
      tierSection(me));
  }

  function tierSection(me) {
    const progress = me.tier_progress || {};
    const name = progress.tier ? progress.tier.name : me.tier;
    const next = progress.next_tier;
    let toGo = null;
    if (next && progress.remaining != null) {
      toGo = next.threshold_kind === "money_spent"
        ? t("to_next_tier_money", { money: money(progress.remaining, me.currency), tier: next.name })
        : t("to_next_tier", { points: points(progress.remaining), tier: next.name });
    } else if (me.next_tier && me.points_to_next_tier != null) {
      toGo = t("to_next_tier", { points: points(me.points_to_next_tier), tier: me.next_tier });
    }
    return [
      name ? h("p", { "data-tier": true, text: t("tier", { tier: name }) }) : null,
      next && progress.percent != null
        ? h("progress", { max: 100, value: progress.percent, "aria-label": t("tier_progress_label", { tier: next.name }) })
        : null,
      toGo ? h("p", { class: "ll-muted", text: toGo }) : null,
    ];
  }

  function rewardValue(reward) {
    const cur = reward.currency;
    switch (reward.kind) {
      case "fixed_amount": return t("value_fixed_amount", { money: money(reward.value, cur) });
      case "percentage": return t("value_percentage", { n: numberFormat.format(reward.value) });
      case "variable_amount":
        return t("value_variable_amount", { money: money(reward.value, cur), points: points(reward.points_cost) });
      default: return t("value_" + reward.kind);
    }
  }

  function reasonText(reward) {
    if (reward.reason === "sign in to redeem rewards") return t("reason_sign_in");
    if (reward.reason === "not enough points yet") return t("reason_points");
    return t("reason_other");
  }

  function rewardItem(reward, me) {
    const cost = reward.kind === "variable_amount" ? reward.min_points || reward.points_cost : reward.points_cost;
    let amount = null;
    if (reward.kind === "variable_amount" && reward.redeemable) {
      const most = Math.min(reward.max_points || Infinity, me.points_balance || 0);
      const steps = Math.floor(most / reward.points_cost) * reward.points_cost;
      amount = h("input", {
        type: "number", id: "ll-amount-" + reward.id, "data-key": "amount-" + reward.id,
        min: cost, max: steps, step: reward.points_cost, value: steps,
      });
    }
    const busy = state.busy === reward.id;
    const click = () => {
      if (state.busy) return; // one redemption at a time
      const spend = amount ? parseInt(amount.value, 10) : null;
      redeem(reward, spend);
    };
    return h("li", { class: "ll-reward", "data-reward": reward.id },
      h("strong", { text: reward.name }),
      h("span", { class: "ll-muted", text: rewardValue(reward) + " · " + points(cost) }),
      reward.min_order_minor ? h("p", { class: "ll-muted", text: t("min_order", { money: money(reward.min_order_minor, reward.currency) }) }) : null,
      amount ? [h("label", { for: amount.id, text: t("amount_label") }), amount] : null,
      me.guest ? null : reward.redeemable
        ? h("div", { class: "ll-actions" }, h("button", {
          type: "button", "data-key": "redeem-" + reward.id, "aria-disabled": state.busy ? "true" : null,
          "aria-label": t("redeem_label", { reward: reward.name, points: points(cost) }),
          text: busy ? t("redeeming") : t("redeem"), onclick: click,
        }))
        : h("p", { class: "ll-muted", text: reasonText(reward) }));
  }

  function rewardsSection(me) {
    return h("section", { "data-view": "rewards" },
      h("h3", { tabindex: "-1", text: t("rewards_heading") }),
      state.redeemError ? h("p", { class: "ll-error", role: "alert", text: t(state.redeemError) }) : null,
      me.guest && state.rewards.length ? h("p", { class: "ll-muted", text: t("reason_sign_in") }) : null,
      state.rewards.length
        ? h("ul", {}, state.rewards.map((r) => rewardItem(r, me)))
        : h("p", { class: "ll-muted", text: t("no_rewards") }));
  }

  function orderRate(me) {
    const way = (me && me.ways_to_earn || []).find((w) => w.kind === "order" && w.points_per_unit);
    return way ? way.points_per_unit : null;
  }

  function waysSection(me) {
    const items = (me.ways_to_earn || []).map((way) => {
      if (way.kind === "order") {
        const digits = currencyDigits(me.currency);
        return h("li", { text: t("way_order", { points: points(Number(way.points_per_unit)), money: money(10 ** digits, me.currency) }) });
      }
      if (way.kind === "signup") return h("li", { text: t("way_signup", { points: points(way.points) }) });
      return h("li", { text: way.description });
    });
    return h("section", {}, h("h3", { text: t("ways_heading") }), h("ul", {}, items));
  }

  function referralSection(url) {
    return h("section", { "data-view": "referral" },
      h("h3", { text: t("referral_heading") }),
      h("p", { text: t("referral_body") }),
      h("label", { for: "ll-referral", text: t("referral_label") }),
      h("input", { id: "ll-referral", readonly: true, value: url, "data-copy-source": true }),
      h("div", { class: "ll-actions" }, h("button", {
        type: "button", "data-key": "copy-link", class: "ll-quiet",
        text: state.copied === "link" ? t("copied") : t("copy_link"), onclick: () => copy(url, "link"),
      })));
  }

  function entryText(entry) {
    let text = entry.kind === "redeem" && entry.redemption
      ? t("kind_redeem", { reward: entry.redemption.reward_name })
      : texts["kind_" + entry.kind] ? t("kind_" + entry.kind) : t("kind_other");
    if (entry.status === "pending" || entry.status === "voided") text += " (" + t("status_" + entry.status) + ")";
    if (entry.redemption && entry.redemption.code) text += " · " + entry.redemption.code;
    return text;
  }

  function historySection() {
    const rows = state.history.map((entry) => h("li", { class: "ll-row" },
      h("span", {}, h("span", { text: entryText(entry) }), h("br"),
        h("span", { class: "ll-muted", text: dateFormat.format(new Date(entry.created_at)) })),
      h("span", { class: entry.points < 0 ? "ll-minus" : "ll-plus", text: (entry.points > 0 ? "+" : "") + numberFormat.format(entry.points) })));
    return h("section", { "data-view": "history" },
      h("h3", { text: t("history_heading") }),
      rows.length ? h("ul", {}, rows) : h("p", { class: "ll-muted", text: t("no_history") }));
  }

  function codeView() {
    const result = state.result;
    const link = result.code ? applyUrl(result.code) : "";
    return [h("section", { "data-view": "code" },
      h("h3", { tabindex: "-1", "data-autofocus": true, text: t("code_heading") }),
      result.code ? h("p", { class: "ll-code", "data-code": result.code, text: result.code })
        : h("p", { text: t("code_pending") }),
      h("p", { class: "ll-muted", text: t("new_balance", { points: points(result.points_balance) }) }),
      h("div", { class: "ll-actions" },
        result.code ? h("button", {
          type: "button", "data-key": "copy-code",
          text: state.copied === "code" ? t("copied") : t("copy"), onclick: () => copy(result.code, "code"),
        }) : null,
        link ? h("a", { class: "ll-btn", href: link, "data-key": "apply", text: t("apply") }) : null,
        h("button", {
          type: "button", class: "ll-quiet", "data-key": "back", text: t("back"),
          onclick: () => { state.result = null; state.copied = ""; render(); body.querySelector('[data-view="rewards"] h3').focus(); },
        })))];
  }

  // -- product and cart snippets on the page (light DOM: they take the theme's typography) -----------

  let estimateMissing = false;

  async function estimate(amountMinor) {
    if (!estimateMissing) {
      const res = await api("/estimate?amount=" + amountMinor);
      if (res.ok && Number.isInteger(res.body.points)) return res.body.points;
      if (res.status === 404 || res.status === 405) estimateMissing = true;
    }
    // Without the estimate endpoint: the programme's base rate from /me, rounded down.
    const me = await loadMe();
    const rate = orderRate(me);
    if (!me || !rate) return null;
    const [whole, fraction = ""] = rate.split(".");
    const scaled = BigInt(whole + fraction);
    const divisor = 10n ** BigInt(fraction.length + currencyDigits(me.currency));
    return Number((BigInt(amountMinor) * scaled) / divisor);
  }

  async function updateEarn(el) {
    const amount = parseInt(el.getAttribute("data-price") || "", 10);
    const n = Number.isInteger(amount) && amount > 0 ? await estimate(amount) : null;
    if (!n) { el.hidden = true; return; }
    el.hidden = false;
    el.setAttribute("data-points", n);
    el.textContent = t("earn_estimate", { points: points(n) });
  }

  async function updateCart() {
    for (const el of document.querySelectorAll("[data-loyalty-cart]")) {
      const total = parseInt(el.getAttribute("data-total") || "", 10);
      const n = Number.isInteger(total) && total > 0 ? await estimate(total) : null;
      const usable = state.rewards.filter((r) => r.redeemable);
      const parts = [];
      if (n) parts.push(h("p", { "data-points": n, text: t("cart_earn", { points: points(n) }) }));
      if (usable.length) {
        parts.push(h("p", { text: t("cart_rewards") }),
          h("ul", {}, usable.map((r) => h("li", { text: r.name + " · " + points(r.kind === "variable_amount" ? r.min_points || r.points_cost : r.points_cost) }))),
          h("button", { type: "button", text: t("launcher"), onclick: () => open() }));
      }
      el.replaceChildren(...parts);
      el.hidden = !parts.length;
    }
  }

  async function startSnippets() {
    const earn = [...document.querySelectorAll("[data-loyalty-earn]")];
    const carts = document.querySelectorAll("[data-loyalty-cart]");
    for (const el of earn) {
      updateEarn(el);
      new MutationObserver(() => updateEarn(el)).observe(el, { attributes: true, attributeFilter: ["data-price"] });
    }
    if (carts.length) {
      const me = await loadMe();
      if (me && !me.guest) {
        const rewards = await api("/rewards");
        if (rewards.ok && !state.loaded) state.rewards = rewards.body.data || [];
      }
      updateCart();
    }
  }

  function start() {
    rememberReferral();
    document.body.append(host);
    startSnippets();
  }

  window.LoyaltyLoop = { open, close, refresh, language: lang };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
