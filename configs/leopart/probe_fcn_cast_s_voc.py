# FCN probe of a Leopart CAST-S on Pascal VOC (frozen backbone; every
# stage's painted tokens, concatenated).
_base_ = ['./probe_linear_cast_s_voc.py']

# The release's FCN head: two 3x3 convolutions of 512 channels, the input
# concatenated, dropout 0.1.
model = dict(
    decode_head=dict(
        channels=512, num_convs=2, concat_input=True, dropout_ratio=0.1))
