<?php
/**
 * Removes the plugin's settings (including the widget secret) when it is deleted.
 *
 * @package LoyaltyLoop
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}
delete_option( 'loyalty_loop_settings' );
