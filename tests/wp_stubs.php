<?php
/**
 * The few WordPress and WooCommerce functions the Loyalty Loop plugin calls, as plain
 * PHP, so tests/test_woocommerce_plugin.py can run the real plugin file with `php`.
 * State comes in through the environment (LL_SETTINGS as JSON, LL_USER_ID, LL_NOW) and
 * everything the plugin does is recorded in $GLOBALS['ll'] and printed as JSON.
 */

define( 'ABSPATH', __DIR__ . '/' );

$GLOBALS['ll'] = array(
	'actions'  => array(),
	'filters'  => array(),
	'enqueued' => array(),
	'coupons'  => array(),
	'notices'  => array(),
	'redirect' => null,
);

function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['ll']['actions'][ $hook ][] = $callback;
}
function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['ll']['filters'][ $hook ][] = $callback;
}
function ll_do_action( $hook ) {
	foreach ( $GLOBALS['ll']['actions'][ $hook ] ?? array() as $callback ) {
		$callback();
	}
}
function ll_apply_filters( $hook, ...$args ) {
	foreach ( $GLOBALS['ll']['filters'][ $hook ] ?? array() as $callback ) {
		$args[0] = $callback( ...$args );
	}
	return $args[0];
}
function get_option( $name, $default = false ) {
	if ( 'loyalty_loop_settings' !== $name ) {
		return $default;
	}
	$raw = getenv( 'LL_SETTINGS' );
	return false === $raw ? $default : json_decode( $raw, true );
}
function get_current_user_id() {
	return (int) getenv( 'LL_USER_ID' );
}
function is_admin() {
	return false;
}
function wp_enqueue_script( $handle, $src, $deps = array(), $ver = false, $args = array() ) {
	$GLOBALS['ll']['enqueued'][ $handle ] = $src;
}
function home_url( $path = '' ) {
	return 'https://shop.example' . $path;
}
function rest_url( $path = '' ) {
	return 'https://shop.example/wp-json/' . ltrim( $path, '/' );
}
function add_query_arg( array $args, $url ) {
	$pairs = array();
	foreach ( $args as $key => $value ) {
		$pairs[] = $key . '=' . $value; // WordPress does not encode here either.
	}
	return $url . ( false === strpos( $url, '?' ) ? '?' : '&' ) . implode( '&', $pairs );
}
function wp_create_nonce( $action ) {
	return substr( hash( 'sha256', 'nonce:' . $action ), 0, 10 );
}
function wp_verify_nonce( $nonce, $action ) {
	return hash_equals( wp_create_nonce( $action ), (string) $nonce ) ? 1 : false;
}
function get_locale() {
	return getenv( 'LL_LOCALE' ) ?: 'en_US';
}
function sanitize_text_field( $value ) {
	return trim( strip_tags( (string) $value ) );
}
function wp_unslash( $value ) {
	return stripslashes( (string) $value );
}
function __( $text, $domain = 'default' ) {
	return $text;
}
function wc_format_coupon_code( $value ) {
	return trim( (string) $value );
}
function wc_add_notice( $message, $type = 'success' ) {
	$GLOBALS['ll']['notices'][] = array( $type, $message );
}
function wc_get_cart_url() {
	return 'https://shop.example/cart/';
}
function wp_safe_redirect( $location ) {
	$GLOBALS['ll']['redirect'] = $location;
	echo json_encode( $GLOBALS['ll'] );
	return true;
}

class LL_Cart {
	public function has_discount( $code ) {
		return in_array( $code, $GLOBALS['ll']['coupons'], true );
	}
	public function apply_coupon( $code ) {
		$GLOBALS['ll']['coupons'][] = $code;
		return true;
	}
}
class LL_WooCommerce {
	public $cart = null;
}
function WC() {
	static $wc = null;
	if ( null === $wc ) {
		$wc = new LL_WooCommerce();
	}
	return $wc;
}
function wc_load_cart() {
	WC()->cart = new LL_Cart();
}
