<?php
/**
 * The signed shopper identity and the widget's script tag, in plain PHP (no WordPress
 * calls), so the test suite can run exactly this code against the Python verifier.
 *
 * The signature is the same as `widgets/identity.py: sign_storefront`: hex HMAC-SHA256,
 * keyed with the shop's widget secret, over "{shop_id}:{customer_id}:{timestamp}".
 * A guest signs an empty customer ("12::1700000000"). The secret never leaves the server.
 *
 * @package LoyaltyLoop
 */

// Loaded with require_once by the plugin (and by the test suite on its own).

/** Languages the widget has catalogues for; anything else falls back to English. */
const LOYALTY_LOOP_LANGUAGES = array( 'en', 'nl', 'es', 'nb' );

/**
 * The X-Loyalty-Signature for a shopper of a shop.
 *
 * @param string|int $shop_id     Our numeric shop id (decimal, no leading zeros).
 * @param string|int $customer_id The WordPress user id; '' or 0 for a guest.
 * @param string|int $timestamp   Unix seconds.
 * @param string     $secret      The shop's widget secret.
 * @return string 64 lower-case hex characters.
 */
function loyalty_loop_sign( $shop_id, $customer_id, $timestamp, $secret ) {
	$customer = loyalty_loop_customer_id( $customer_id );
	$message  = (string) $shop_id . ':' . $customer . ':' . (string) $timestamp;
	return hash_hmac( 'sha256', $message, (string) $secret );
}

/**
 * The customer id as signed and sent: digits of a signed-in user, '' for a guest.
 *
 * @param string|int|null $customer_id The WordPress user id.
 * @return string
 */
function loyalty_loop_customer_id( $customer_id ) {
	if ( null === $customer_id || '' === $customer_id || 0 === $customer_id || '0' === $customer_id ) {
		return '';
	}
	return (string) $customer_id;
}

/**
 * Whether the settings are complete enough to show the widget.
 *
 * @param array $settings api_url, shop_id, widget_secret.
 * @return bool
 */
function loyalty_loop_configured( array $settings ) {
	$api_url = isset( $settings['api_url'] ) ? (string) $settings['api_url'] : '';
	$shop_id = isset( $settings['shop_id'] ) ? (string) $settings['shop_id'] : '';
	$secret  = isset( $settings['widget_secret'] ) ? (string) $settings['widget_secret'] : '';
	return '' !== $secret
		&& 1 === preg_match( '/^[1-9][0-9]{0,18}$/', $shop_id )
		&& 1 === preg_match( '#^https?://[^\s"\'<>]+$#', $api_url );
}

/**
 * The signed identity of the current shopper, as the widget sends it.
 *
 * @param array           $settings    The plugin settings.
 * @param string|int|null $customer_id The WordPress user id (0 for a guest).
 * @param int             $now         Unix seconds.
 * @return array shop, customer, timestamp, signature.
 */
function loyalty_loop_identity( array $settings, $customer_id, $now ) {
	$shop_id  = (string) $settings['shop_id'];
	$customer = loyalty_loop_customer_id( $customer_id );
	$ts       = (string) (int) $now;
	return array(
		'shop'      => $shop_id,
		'customer'  => $customer,
		'timestamp' => $ts,
		'signature' => loyalty_loop_sign( $shop_id, $customer, $ts, (string) $settings['widget_secret'] ),
	);
}

/**
 * The widget language from a WordPress locale: nb_NO → nb, nl_NL → nl, else en.
 *
 * @param string $locale A WordPress locale.
 * @return string
 */
function loyalty_loop_language( $locale ) {
	$lang = strtolower( substr( (string) $locale, 0, 2 ) );
	if ( 'no' === $lang || 'nn' === $lang ) {
		$lang = 'nb';
	}
	return in_array( $lang, LOYALTY_LOOP_LANGUAGES, true ) ? $lang : 'en';
}

/**
 * The data-* attributes of the widget's script tag (see docs/widget.md): data-api is the
 * Loyalty Loop server's base URL; the widget calls {data-api}/storefront/v1/... .
 *
 * @param array           $settings     The plugin settings.
 * @param string|int|null $customer_id  The WordPress user id (0 for a guest).
 * @param int             $now          Unix seconds.
 * @param array           $page         apply_url (with {code}), identity_url, identity_nonce, lang.
 * @return array attribute name => value, in the order printed.
 */
function loyalty_loop_script_attributes( array $settings, $customer_id, $now, array $page ) {
	$api      = rtrim( (string) $settings['api_url'], '/' );
	$identity = loyalty_loop_identity( $settings, $customer_id, $now );
	return array(
		'data-api'          => $api,
		'data-platform'     => 'woocommerce',
		'data-shop'         => $identity['shop'],
		'data-customer'     => $identity['customer'],
		'data-timestamp'    => $identity['timestamp'],
		'data-signature'    => $identity['signature'],
		'data-apply-url'    => isset( $page['apply_url'] ) ? (string) $page['apply_url'] : '',
		'data-identity-url' => isset( $page['identity_url'] ) ? (string) $page['identity_url'] : '',
		// Sent back as X-WP-Nonce, so WordPress knows the signed-in user on that call.
		'data-identity-nonce' => isset( $page['identity_nonce'] ) ? (string) $page['identity_nonce'] : '',
		'data-lang'         => loyalty_loop_language( isset( $page['lang'] ) ? $page['lang'] : 'en' ),
	);
}

/**
 * The widget's script URL on the Loyalty Loop server.
 *
 * @param array $settings The plugin settings.
 * @return string
 */
function loyalty_loop_script_url( array $settings ) {
	return rtrim( (string) $settings['api_url'], '/' ) . '/widget/loyalty.js';
}

/**
 * `<script async src=... data-...></script>`, every value HTML-escaped.
 *
 * @param string $src        The script URL.
 * @param array  $attributes From loyalty_loop_script_attributes().
 * @return string
 */
function loyalty_loop_script_tag( $src, array $attributes ) {
	$html = '<script async src="' . htmlspecialchars( (string) $src, ENT_QUOTES, 'UTF-8' ) . '"';
	foreach ( $attributes as $name => $value ) {
		if ( 1 !== preg_match( '/^data-[a-z-]+$/', (string) $name ) ) {
			continue;
		}
		$html .= ' ' . $name . '="' . htmlspecialchars( (string) $value, ENT_QUOTES, 'UTF-8' ) . '"';
	}
	return $html . '></script>';
}
