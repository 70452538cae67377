// The compositor's first stage: blend the two latest generated frames and place them on the output.
// Frames are uploaded top row first, so image v runs downwards; output uv runs upwards.
uniform sampler2D u_prev;     // the older of the two latest generated frames
uniform sampler2D u_next;     // the newest generated frame
uniform float u_weight;       // 0 = u_prev, 1 = u_next
uniform vec4 u_region;        // this output's part of the canvas: x, y, width, height in canvas units (0..1)
uniform vec4 u_fit;           // canvas uv -> image uv: scale (xy) and offset (zw)

in vec2 uv;
out vec4 fragColor;

void main() {
    vec2 canvas = u_region.xy + uv * u_region.zw;
    vec2 image = canvas * u_fit.xy + u_fit.zw;
    if (any(lessThan(image, vec2(0.0))) || any(greaterThan(image, vec2(1.0)))) {
        fragColor = vec4(0.0, 0.0, 0.0, 1.0);  // letterbox
        return;
    }
    image.y = 1.0 - image.y;
    vec3 a = texture(u_prev, image).rgb;
    vec3 b = texture(u_next, image).rgb;
    fragColor = vec4(mix(a, b, clamp(u_weight, 0.0, 1.0)), 1.0);
}
