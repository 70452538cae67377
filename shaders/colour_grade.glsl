// Colour grade: exposure, contrast, saturation and hue rotation.
uniform float exposure;    // default 0.0, range -3.0 .. 3.0
uniform float contrast;    // default 1.0, range 0.0 .. 3.0
uniform float saturation;  // default 1.0, range 0.0 .. 3.0
uniform float hue;         // default 0.0, range -0.5 .. 0.5

uniform sampler2D u_image;
in vec2 uv;
out vec4 fragColor;

vec3 rotate_hue(vec3 c, float turns) {
    // Rotation about the grey axis (Rodrigues), which keeps luminance roughly constant.
    float angle = turns * 6.28318530718;
    vec3 k = vec3(0.57735026919);
    float cosA = cos(angle);
    return c * cosA + cross(k, c) * sin(angle) + k * dot(k, c) * (1.0 - cosA);
}

void main() {
    vec3 c = texture(u_image, uv).rgb;
    c *= exp2(exposure);
    c = (c - 0.5) * contrast + 0.5;
    float luma = dot(c, vec3(0.2126, 0.7152, 0.0722));
    c = mix(vec3(luma), c, saturation);
    c = rotate_hue(c, hue);
    fragColor = vec4(clamp(c, 0.0, 1.0), 1.0);
}
