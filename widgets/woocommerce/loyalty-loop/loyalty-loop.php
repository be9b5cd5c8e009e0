<?php
/**
 * Plugin Name:       Loyalty Loop for WooCommerce
 * Description:       Shows the Loyalty Loop rewards widget on your store with the signed-in shopper's points, and applies reward codes to the cart.
 * Version:           1.0.0
 * Requires at least: 6.3
 * Requires PHP:      7.4
 * WC requires at least: 7.0
 * License:           MIT
 * Text Domain:       loyalty-loop
 *
 * What it does on every storefront page:
 *  - prints `<script async src="{api}/widget/loyalty.js" data-...>` with the shopper's
 *    identity signed by this server (the widget secret stays here, never in the page);
 *  - answers `?loyalty_loop_apply=CODE&_wpnonce=...` by applying the code to the cart and
 *    redirecting there (the widget's "apply to cart" button);
 *  - answers `GET /wp-json/loyalty-loop/v1/identity` with a fresh signature, for pages
 *    served from a full-page cache whose printed signature has gone stale.
 *
 * @package LoyaltyLoop
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

require_once __DIR__ . '/includes/signing.php';

const LOYALTY_LOOP_OPTION       = 'loyalty_loop_settings';
const LOYALTY_LOOP_HANDLE       = 'loyalty-loop-widget';
const LOYALTY_LOOP_APPLY_PARAM  = 'loyalty_loop_apply';
const LOYALTY_LOOP_APPLY_ACTION = 'loyalty_loop_apply';

/**
 * The saved settings: api_url, shop_id, widget_secret.
 *
 * @return array
 */
function loyalty_loop_settings() {
	$saved = get_option( LOYALTY_LOOP_OPTION, array() );
	return is_array( $saved ) ? $saved : array();
}

/**
 * What the widget needs from this page besides the identity.
 *
 * @return array apply_url, identity_url, identity_nonce, lang.
 */
function loyalty_loop_page_context() {
	$apply = add_query_arg(
		array(
			LOYALTY_LOOP_APPLY_PARAM => '{code}',
			'_wpnonce'               => wp_create_nonce( LOYALTY_LOOP_APPLY_ACTION ),
		),
		home_url( '/' )
	);
	return array(
		// `{code}` is replaced by the widget (URL-encoded) when the shopper applies a code.
		'apply_url'    => str_replace( rawurlencode( '{code}' ), '{code}', $apply ),
		'identity_url'   => rest_url( 'loyalty-loop/v1/identity' ),
		'identity_nonce' => wp_create_nonce( 'wp_rest' ),
		'lang'         => function_exists( 'determine_locale' ) ? determine_locale() : get_locale(),
	);
}

/** Enqueue the widget in the footer on storefront pages. */
function loyalty_loop_enqueue() {
	$settings = loyalty_loop_settings();
	if ( is_admin() || ! loyalty_loop_configured( $settings ) ) {
		return;
	}
	wp_enqueue_script( LOYALTY_LOOP_HANDLE, loyalty_loop_script_url( $settings ), array(), null, true );
}
add_action( 'wp_enqueue_scripts', 'loyalty_loop_enqueue' );

/**
 * Replace WordPress's tag for our handle with the async tag that carries the identity.
 *
 * @param string $tag    The tag WordPress built.
 * @param string $handle The script handle.
 * @param string $src    The script URL.
 * @return string
 */
function loyalty_loop_script_loader_tag( $tag, $handle, $src ) {
	if ( LOYALTY_LOOP_HANDLE !== $handle ) {
		return $tag;
	}
	$settings = loyalty_loop_settings();
	if ( ! loyalty_loop_configured( $settings ) ) {
		return '';
	}
	$attributes = loyalty_loop_script_attributes( $settings, get_current_user_id(), time(), loyalty_loop_page_context() );
	return loyalty_loop_script_tag( $src, $attributes ) . "\n";
}
add_filter( 'script_loader_tag', 'loyalty_loop_script_loader_tag', 10, 3 );

/**
 * `?loyalty_loop_apply=CODE&_wpnonce=...`: apply a reward code to the cart, then show the cart.
 * A GET navigation like Shopify's `/discount/CODE?redirect=/cart`, guarded by a nonce so
 * another site cannot put codes into a shopper's cart.
 */
function loyalty_loop_apply_code_from_link() {
	if ( ! isset( $_GET[ LOYALTY_LOOP_APPLY_PARAM ] ) || ! function_exists( 'WC' ) ) {
		return;
	}
	$nonce = isset( $_GET['_wpnonce'] ) ? sanitize_text_field( wp_unslash( $_GET['_wpnonce'] ) ) : '';
	$code  = wc_format_coupon_code( sanitize_text_field( wp_unslash( $_GET[ LOYALTY_LOOP_APPLY_PARAM ] ) ) );
	if ( ! wp_verify_nonce( $nonce, LOYALTY_LOOP_APPLY_ACTION ) ) {
		wc_add_notice( __( 'That link has expired. Open the rewards panel and apply the code again.', 'loyalty-loop' ), 'error' );
	} elseif ( '' !== $code ) {
		if ( null === WC()->cart && function_exists( 'wc_load_cart' ) ) {
			wc_load_cart();
		}
		if ( WC()->cart && ! WC()->cart->has_discount( $code ) ) {
			WC()->cart->apply_coupon( $code ); // Adds its own success or error notice.
		}
	}
	wp_safe_redirect( wc_get_cart_url() );
	exit;
}
add_action( 'template_redirect', 'loyalty_loop_apply_code_from_link' );

/** `GET /wp-json/loyalty-loop/v1/identity`: a fresh signature for the current shopper. */
function loyalty_loop_register_routes() {
	register_rest_route(
		'loyalty-loop/v1',
		'/identity',
		array(
			'methods'             => 'GET',
			// Public on purpose: it only ever signs the requester's own identity. Without a
			// valid X-WP-Nonce WordPress treats the request as a guest's, so a cross-site
			// request can obtain a guest signature and nothing more.
			'permission_callback' => '__return_true',
			'callback'            => 'loyalty_loop_identity_response',
		)
	);
}
add_action( 'rest_api_init', 'loyalty_loop_register_routes' );

/**
 * The identity as JSON, never cached.
 *
 * @return WP_REST_Response|WP_Error
 */
function loyalty_loop_identity_response() {
	$settings = loyalty_loop_settings();
	if ( ! loyalty_loop_configured( $settings ) ) {
		return new WP_Error( 'loyalty_loop_not_configured', 'Loyalty Loop is not configured.', array( 'status' => 503 ) );
	}
	$response = new WP_REST_Response( loyalty_loop_identity( $settings, get_current_user_id(), time() ) );
	$response->header( 'Cache-Control', 'no-store, private' );
	return $response;
}

if ( is_admin() ) {
	require_once __DIR__ . '/includes/settings.php';
}
