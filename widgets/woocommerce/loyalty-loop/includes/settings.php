<?php
/**
 * Settings → Loyalty Loop: the server URL, the shop id and the widget secret
 * (`loyalty shop show ID` prints the last two).
 *
 * @package LoyaltyLoop
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/** Register the option with its sanitiser. */
function loyalty_loop_register_settings() {
	register_setting(
		'loyalty_loop',
		LOYALTY_LOOP_OPTION,
		array(
			'type'              => 'array',
			'sanitize_callback' => 'loyalty_loop_sanitize_settings',
			'default'           => array(),
			'show_in_rest'      => false,
		)
	);
}
add_action( 'admin_init', 'loyalty_loop_register_settings' );

/**
 * Keep only well-formed values; an empty secret field keeps the saved secret.
 *
 * @param mixed $input The submitted form.
 * @return array
 */
function loyalty_loop_sanitize_settings( $input ) {
	$current = loyalty_loop_settings();
	$input   = is_array( $input ) ? $input : array();
	$api_url = isset( $input['api_url'] ) ? esc_url_raw( trim( (string) $input['api_url'] ), array( 'https', 'http' ) ) : '';
	$shop_id = isset( $input['shop_id'] ) ? trim( (string) $input['shop_id'] ) : '';
	$secret  = isset( $input['widget_secret'] ) ? trim( (string) $input['widget_secret'] ) : '';
	if ( '' !== $shop_id && 1 !== preg_match( '/^[1-9][0-9]{0,18}$/', $shop_id ) ) {
		add_settings_error( LOYALTY_LOOP_OPTION, 'shop_id', __( 'The shop id is a number, as shown by `loyalty shop show`.', 'loyalty-loop' ) );
		$shop_id = isset( $current['shop_id'] ) ? $current['shop_id'] : '';
	}
	return array(
		'api_url'       => rtrim( $api_url, '/' ),
		'shop_id'       => $shop_id,
		'widget_secret' => '' !== $secret ? $secret : ( isset( $current['widget_secret'] ) ? $current['widget_secret'] : '' ),
	);
}

/** Add the page under Settings. */
function loyalty_loop_settings_menu() {
	add_options_page( 'Loyalty Loop', 'Loyalty Loop', 'manage_options', 'loyalty-loop', 'loyalty_loop_settings_page' );
}
add_action( 'admin_menu', 'loyalty_loop_settings_menu' );

/** The form. The secret is never printed back, only whether one is saved. */
function loyalty_loop_settings_page() {
	if ( ! current_user_can( 'manage_options' ) ) {
		return;
	}
	$settings = loyalty_loop_settings();
	$has_key  = ! empty( $settings['widget_secret'] );
	?>
	<div class="wrap">
		<h1><?php echo esc_html( 'Loyalty Loop' ); ?></h1>
		<form method="post" action="options.php">
			<?php settings_fields( 'loyalty_loop' ); ?>
			<table class="form-table" role="presentation">
				<tr>
					<th scope="row"><label for="loyalty-loop-api-url"><?php esc_html_e( 'Loyalty Loop URL', 'loyalty-loop' ); ?></label></th>
					<td><input id="loyalty-loop-api-url" class="regular-text" type="url" name="<?php echo esc_attr( LOYALTY_LOOP_OPTION ); ?>[api_url]" value="<?php echo esc_attr( isset( $settings['api_url'] ) ? $settings['api_url'] : '' ); ?>" placeholder="https://loyalty.example.com" /></td>
				</tr>
				<tr>
					<th scope="row"><label for="loyalty-loop-shop-id"><?php esc_html_e( 'Shop id', 'loyalty-loop' ); ?></label></th>
					<td><input id="loyalty-loop-shop-id" type="text" inputmode="numeric" name="<?php echo esc_attr( LOYALTY_LOOP_OPTION ); ?>[shop_id]" value="<?php echo esc_attr( isset( $settings['shop_id'] ) ? $settings['shop_id'] : '' ); ?>" /></td>
				</tr>
				<tr>
					<th scope="row"><label for="loyalty-loop-secret"><?php esc_html_e( 'Widget secret', 'loyalty-loop' ); ?></label></th>
					<td>
						<input id="loyalty-loop-secret" class="regular-text" type="password" autocomplete="off" name="<?php echo esc_attr( LOYALTY_LOOP_OPTION ); ?>[widget_secret]" value="" />
						<p class="description"><?php echo esc_html( $has_key ? __( 'A secret is saved. Leave empty to keep it.', 'loyalty-loop' ) : __( 'Shown by `loyalty shop show ID`.', 'loyalty-loop' ) ); ?></p>
					</td>
				</tr>
			</table>
			<?php submit_button(); ?>
		</form>
	</div>
	<?php
}
