-- Label Studio's own database beside YMIR's (the compose profile 'label'); run once, at the first start.
CREATE DATABASE ymir_label_studio;
