// Camera layer: the camera image (through a pix2pix model when the show has one) over the picture.
// mode: 0 mix, 1 add, 2 screen, 3 multiply, 4 difference. fill: 0 fits the camera inside (letterbox), 1 fills.
uniform float amount;   // default 0.0, range 0.0 .. 1.0
uniform float mode;     // default 0.0, range 0.0 .. 4.0
uniform float fill;     // default 0.0, range 0.0 .. 1.0

uniform sampler2D u_image;
uniform sampler2D u_camera;
uniform float u_camera_live;     // 0 until the camera has given a frame
uniform float u_camera_aspect;   // the camera image's width / height
uniform vec2 u_resolution;
in vec2 uv;
out vec4 fragColor;

void main() {
    vec3 base = texture(u_image, uv).rgb;
    float canvas = u_resolution.x / u_resolution.y;
    float ratio = canvas / max(u_camera_aspect, 1e-3);          // > 1: the output is wider than the camera
    vec2 scale = fill > 0.5 ? (ratio > 1.0 ? vec2(1.0, 1.0 / ratio) : vec2(ratio, 1.0))
                            : (ratio > 1.0 ? vec2(ratio, 1.0) : vec2(1.0, 1.0 / ratio));
    vec2 c = (uv - 0.5) * scale + 0.5;
    float inside = step(0.0, c.x) * step(c.x, 1.0) * step(0.0, c.y) * step(c.y, 1.0);
    vec3 cam = texture(u_camera, vec2(c.x, 1.0 - c.y)).rgb;      // camera rows come top first
    int m = int(mode + 0.5);
    vec3 layered = m == 1 ? min(base + cam, 1.0)
                 : m == 2 ? 1.0 - (1.0 - base) * (1.0 - cam)
                 : m == 3 ? base * cam
                 : m == 4 ? abs(base - cam)
                 : cam;
    fragColor = vec4(mix(base, layered, amount * inside * u_camera_live), 1.0);
}
