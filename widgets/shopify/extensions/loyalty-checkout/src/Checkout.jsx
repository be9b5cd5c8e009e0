/**
 * Loyalty Loop in Shopify checkout: the signed-in shopper's balance, the rewards they can
 * afford, and a button that spends points and adds the code to this checkout.
 *
 * Identity: Shopify's session token (sessionToken.get(); HS256, signed with the app
 * secret; `sub` is the customer's GID, `dest` the shop), sent as a bearer token to
 * /checkout/v1 on the Loyalty Loop server. Nothing else identifies the shopper.
 */
import {useEffect, useState} from 'react';
import {
  reactExtension,
  useApi,
  useSettings,
  useApplyDiscountCodeChange,
  BlockStack,
  InlineStack,
  Text,
  Button,
  Banner,
  SkeletonText,
} from '@shopify/ui-extensions-react/checkout';

export default reactExtension('purchase.checkout.block.render', () => <LoyaltyPoints />);

function LoyaltyPoints() {
  const {sessionToken, i18n} = useApi();
  const {api_url: apiUrl} = useSettings();
  const applyDiscountCode = useApplyDiscountCodeChange();
  const [me, setMe] = useState(null);
  const [rewards, setRewards] = useState([]);
  const [busy, setBusy] = useState(null);
  const [message, setMessage] = useState(null);

  async function call(path, options = {}) {
    // A fresh (or cached, still valid) token for every request, as Shopify recommends.
    const token = await sessionToken.get();
    const response = await fetch(`${String(apiUrl).replace(/\/+$/, '')}/checkout/v1${path}`, {
      ...options,
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        ...(options.headers || {}),
      },
    });
    const body = await response.json().catch(() => ({}));
    return {ok: response.ok, status: response.status, body};
  }

  async function load() {
    const [meRes, rewardsRes] = await Promise.all([call('/me'), call('/rewards')]);
    if (meRes.ok) setMe(meRes.body);
    if (rewardsRes.ok) setRewards((rewardsRes.body.data || []).filter((r) => r.redeemable && r.kind !== 'variable_amount'));
  }

  useEffect(() => {
    if (apiUrl) load().catch(() => setMessage({status: 'critical', text: 'Your points could not be loaded.'}));
  }, [apiUrl]);

  async function redeem(reward) {
    setBusy(reward.id);
    setMessage(null);
    try {
      // One key per click: a retried request never spends twice.
      const key = `checkout-${reward.id}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const res = await call('/redemptions', {
        method: 'POST',
        headers: {'Idempotency-Key': key},
        body: JSON.stringify({reward_id: reward.id}),
      });
      if (res.ok && res.body.code) {
        const applied = await applyDiscountCode({type: 'addDiscountCode', code: res.body.code});
        setMessage(
          applied.type === 'success'
            ? {status: 'success', text: `${reward.name} applied (code ${res.body.code}).`}
            : {status: 'warning', text: `Your code is ${res.body.code}; enter it in the discount field.`},
        );
        await load();
      } else {
        setMessage({status: 'critical', text: (res.body.error && res.body.error.message) || 'That did not work; try again.'});
      }
    } finally {
      setBusy(null);
    }
  }

  if (!apiUrl) return null;
  if (!me) return <SkeletonText />;
  if (me.guest) {
    return <Text>Sign in to use your points.</Text>;
  }
  return (
    <BlockStack spacing="base">
      <Text emphasis="bold">{`${i18n.formatNumber(me.points_balance)} points`}</Text>
      {message && <Banner status={message.status}>{message.text}</Banner>}
      {rewards.map((reward) => (
        <InlineStack key={reward.id} spacing="base" blockAlignment="center">
          <Text>{`${reward.name} · ${i18n.formatNumber(reward.points_cost)} points`}</Text>
          <Button kind="secondary" loading={busy === reward.id} disabled={busy !== null} onPress={() => redeem(reward)}>
            Use
          </Button>
        </InlineStack>
      ))}
    </BlockStack>
  );
}
