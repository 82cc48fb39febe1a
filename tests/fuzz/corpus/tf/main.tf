variable "region" {
  default = "us-east-1"
}

resource "aws_s3_bucket" "logs" {
  bucket = "df-logs-${var.region}"
  tags = {
    Owner = "platform"
    Env   = "prod"
  }
}

resource "aws_security_group" "web" {
  name = "web"
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
