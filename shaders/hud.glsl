// The operator overlay: an RGBA text image (drawn on the CPU) composited over the top-left corner.
uniform sampler2D u_image;    // the picture
uniform sampler2D u_overlay;  // the HUD text, premultiplied alpha, top row first
uniform vec4 u_rect;          // overlay placement in output uv: x, y, width, height

in vec2 uv;
out vec4 fragColor;

void main() {
    vec3 base = texture(u_image, uv).rgb;
    vec2 p = (uv - u_rect.xy) / u_rect.zw;
    if (all(greaterThanEqual(p, vec2(0.0))) && all(lessThanEqual(p, vec2(1.0)))) {
        vec4 o = texture(u_overlay, vec2(p.x, 1.0 - p.y));
        base = base * (1.0 - o.a) + o.rgb;
    }
    fragColor = vec4(base, 1.0);
}
